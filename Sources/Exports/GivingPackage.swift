import EventStore
import GrantDomain

/// A 360Giving 1.4 data package (`grants`) of the ledger at a cut-off: every grant and every
/// sub-grant that is not cancelled. Valid against the official package schema; the choices
/// the standard leaves open are in docs/exports.md.
public struct GivingPackage: Sendable {
    public var funderID: String
    public var funderName: String
    /// Prefixes our identifiers: `PREFIX-<grantId>`, `PREFIX-org-<organisationId>`.
    public var prefix: String
    public var asOf: LogPoint

    public init(funderID: String, funderName: String, prefix: String, asOf: LogPoint) {
        self.funderID = funderID
        self.funderName = funderName
        self.prefix = prefix
        self.asOf = asOf
    }

    public enum ExportError: Error, CustomStringConvertible {
        case noGrants
        public var description: String {
            "there is no grant at this cut-off (and filter); a 360Giving package needs at least one grant"
        }
    }

    /// The package for `grants` of `ledger` and their sub-grants.
    /// - Throws: `ExportError.noGrants` when there is none (the schema needs one grant).
    public func document(_ ledger: ExportLedger, grants: [GrantState]) throws -> String {
        guard !grants.isEmpty else { throw ExportError.noGrants }
        var entries: [JSONText] = []
        for grant in grants {
            entries.append(entry(for: grant, ledger: ledger))
            for subGrant in ledger.subGrants(of: grant.award.grantId) where subGrant.cancelled == nil {
                entries.append(entry(for: subGrant, of: grant, ledger: ledger))
            }
        }
        let description =
            "Grants and sub-grants recorded by grantledger, as of log position \(asOf.position)"
            + (asOf.recordedAt.map { " (\($0))" } ?? "") + ", chain hash \(asOf.hash)"
        return JSONText.object([
            ("version", .string("1.4")),
            ("title", .string("\(funderName): grants and sub-grants")),
            ("description", .string(description)),
            ("grants", .array(entries)),
        ]).text + "\n"
    }

    /// `KZ-BIN-<bin>` for a registered Kazakhstani organisation, else `PREFIX-org-<id>`.
    func organisationID(_ organisationId: String, ledger: ExportLedger) -> String {
        if let pseudonym = ledger.pseudonym(of: organisationId) { return "\(prefix)-\(pseudonym)" }
        return ledger.orgIdentifier(of: organisationId) ?? "\(prefix)-org-\(organisationId)"
    }

    private func organisation(_ organisationId: String, ledger: ExportLedger) -> JSONText {
        .object([
            ("id", .string(organisationID(organisationId, ledger: ledger))),
            ("name", .string(ledger.name(of: organisationId))),
        ])
    }

    /// The region of a Kazakhstani organisation as a beneficiary location.
    private func location(of organisationId: String, ledger: ExportLedger) -> JSONText? {
        guard let profile = ledger.organisations[organisationId], profile.country == "KZ",
            let region = profile.regionCode
        else { return nil }
        return .array([
            .object([
                ("id", .string(region)),
                ("name", .string(Region.name(of: region) ?? region)),
                ("countryCode", .string("KZ")),
                ("geoCode", .string(region)),
                ("geoCodeType", .string("RGN/GOR")),
            ])
        ])
    }

    private func entry(for grant: GrantState, ledger: ExportLedger) -> JSONText {
        let award = grant.award
        let call = ledger.calls[award.callId]?.call
        let lead = ExportLedger.lead(of: grant)
        var fields: [(String, JSONText)] = [
            ("id", .string("\(prefix)-\(award.grantId)")),
            ("title", .string((call?.title ?? award.callId) + " — " + award.contractNumber)),
            (
                "description",
                .string(
                    "Grant under call " + (call.map { "\($0.reference) (\($0.programme))" } ?? award.callId)
                        + ", contract \(award.contractNumber), to the consortium led by "
                        + (lead.map(ledger.name(of:)) ?? "an unknown lead") + ".")
            ),
            ("currency", .string("EUR")),
            ("amountAwarded", .number(award.amount.description)),
            ("amountDisbursed", .number(grant.disbursed.description)),
            ("awardDate", .string(award.awardedOn.description)),
            (
                "plannedDates",
                .array([
                    .object([
                        ("startDate", .string(award.startDate.description)),
                        ("endDate", .string(award.endDate.description)),
                    ])
                ])
            ),
            ("recipientOrganization", .array(lead.map { [organisation($0, ledger: ledger)] } ?? [])),
            ("fundingOrganization", .array([.object([("id", .string(funderID)), ("name", .string(funderName))])])),
        ]
        if let call {
            fields.append(
                ("grantProgramme", .array([.object([("code", .string(call.callId)), ("title", .string(call.title))])])))
        }
        if let lead, let location = location(of: lead, ledger: ledger) {
            fields.append(("beneficiaryLocation", location))
        }
        fields += disbursements(grant.tranches.map { ($0.paidOn, $0.amount) }, id: "\(award.grantId)-tranche")
        if award.subGrantingEnvelope > .zero { fields.append(("regrantType", .string("FRG010"))) }
        return .object(fields)
    }

    private func entry(for subGrant: SubGrantState, of grant: GrantState, ledger: ExportLedger) -> JSONText {
        let sub = subGrant.award
        var fields: [(String, JSONText)] = [
            ("id", .string("\(prefix)-\(sub.subGrantId)")),
            ("title", .string("Sub-grant \(sub.subGrantId) under contract \(grant.award.contractNumber)")),
            ("description", .string(sub.purpose)),
            ("currency", .string("EUR")),
            ("amountAwarded", .number(sub.amount.description)),
            ("amountDisbursed", .number(subGrant.disbursed.description)),
            ("awardDate", .string(sub.awardedOn.description)),
            ("recipientOrganization", .array([organisation(sub.organisationId, ledger: ledger)])),
            // Financial support to third parties: the grantee (the consortium's lead) funds it.
            (
                "fundingOrganization",
                .array(
                    ExportLedger.lead(of: grant).map { [organisation($0, ledger: ledger)] }
                        ?? [.object([("id", .string(funderID)), ("name", .string(funderName))])])
            ),
            ("relatedActivity", .array([.string("\(prefix)-\(grant.award.grantId)")])),
        ]
        if let location = location(of: sub.organisationId, ledger: ledger) {
            fields.append(("beneficiaryLocation", location))
        }
        fields += disbursements(subGrant.payments.map { ($0.paidOn, $0.amount) }, id: "\(sub.subGrantId)-payment")
        return .object(fields)
    }

    /// `disbursementTransaction` with one transaction per payment (`PREFIX-<id>-<n>`); no
    /// field when there is none.
    private func disbursements(_ payments: [(date: BusinessDate, amount: Money)], id: String) -> [(String, JSONText)] {
        guard !payments.isEmpty else { return [] }
        let transactions = payments.enumerated().map { index, payment in
            JSONText.object([
                ("id", .string("\(prefix)-\(id)-\(index + 1)")), ("transactionDate", .string(payment.date.description)),
                ("currency", .string("EUR")), ("value", .number(payment.amount.description)),
            ])
        }
        return [("disbursementTransaction", .array(transactions))]
    }
}

/// JSON built in order, with numbers written as the decimal text given (never a `Double`).
indirect enum JSONText {
    case string(String)
    case number(String)
    case array([JSONText])
    case object([(String, JSONText)])

    var text: String {
        switch self {
        case .string(let value): return jsonQuoted(value)
        case .number(let value): return value
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let pairs):
            return "{" + pairs.map { jsonQuoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }
}
