import GrantDomain

/// An IATI 2.03 activity file (`iati-activities`) of the ledger at a cut-off: one activity
/// per grant. Valid against the official XSD; the choices the standard leaves open are in
/// docs/exports.md.
public struct IATIActivities: Sendable {
    /// The publisher: the funder, reported as funding (role 1) and extending (role 3) org.
    public struct ReportingOrg: Sendable {
        public var ref: String
        public var name: String
        /// IATI OrganisationType; 40 (Multilateral) for the EU.
        public var type: String

        public init(ref: String, name: String, type: String = "40") {
            self.ref = ref
            self.name = name
            self.type = type
        }
    }

    public var reportingOrg: ReportingOrg
    public var asOf: LogPoint
    /// `generated-datetime` and each activity's `last-updated-datetime` (RFC 3339).
    public var generatedAt: String
    /// I.3 for a call over a calendar year, as the report gives it at the same cut-off.
    public var i3: @Sendable (_ callId: String, _ year: Int) async throws -> I3Figures

    public init(
        reportingOrg: ReportingOrg, asOf: LogPoint, generatedAt: String,
        i3: @escaping @Sendable (String, Int) async throws -> I3Figures
    ) {
        self.reportingOrg = reportingOrg
        self.asOf = asOf
        self.generatedAt = generatedAt
        self.i3 = i3
    }

    public enum ExportError: Error, CustomStringConvertible {
        case noGrants
        public var description: String {
            "there is no grant at this cut-off (and filter); an IATI activity file needs at least one activity"
        }
    }

    /// The document for `grants` of `ledger`.
    /// - Throws: `ExportError.noGrants` when `grants` is empty (the schema needs one activity).
    public func document(_ ledger: ExportLedger, grants: [GrantState]) async throws -> String {
        guard !grants.isEmpty else { throw ExportError.noGrants }
        var out = XMLWriter()
        out.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        out.comment(
            "grantledger: as of position \(asOf.position)"
                + (asOf.recordedAt.map { ", recorded \($0)" } ?? "") + ", chain hash \(asOf.hash)"
                + (asOf.treeSize.map { ", tree \($0) leaves, root \(asOf.rootHash ?? "")" } ?? ""))
        out.open("iati-activities", ["version": "2.03", "generated-datetime": generatedAt])
        for grant in grants { try await activity(grant, ledger: ledger, into: &out) }
        out.close("iati-activities")
        return out.text
    }

    private func activity(_ grant: GrantState, ledger: ExportLedger, into out: inout XMLWriter) async throws {
        let award = grant.award
        let call = ledger.calls[award.callId]?.call
        out.open(
            "iati-activity",
            [
                "last-updated-datetime": asOf.recordedAt ?? generatedAt, "xml:lang": "en", "default-currency": "EUR",
                "hierarchy": "1",
            ])
        out.element("iati-identifier", text: "\(reportingOrg.ref)-\(award.contractNumber)")
        out.open("reporting-org", ["ref": reportingOrg.ref, "type": reportingOrg.type])
        out.narrative(reportingOrg.name)
        out.close("reporting-org")
        out.open("title")
        out.narrative((call?.title ?? award.callId) + " — " + award.contractNumber)
        out.close("title")
        out.open("description", ["type": "1"])
        out.narrative(
            "Grant \(award.grantId) (contract \(award.contractNumber)) under call "
                + (call.map { "\($0.reference), programme \($0.programme)" } ?? award.callId)
                + ", awarded on \(award.awardedOn) to the consortium led by "
                + (ExportLedger.lead(of: grant).map(ledger.name(of:)) ?? "an unknown lead") + ".")
        out.close("description")
        for role in ["1", "3"] {
            out.open("participating-org", ["ref": reportingOrg.ref, "role": role, "type": reportingOrg.type])
            out.narrative(reportingOrg.name)
            out.close("participating-org")
        }
        // Implementing: the members funded by the award, lead first; associates receive no funds.
        let funded =
            award.members.filter { $0.role == .lead }
            + award.members.filter { $0.role != .lead && $0.role != .associate }
        for member in funded {
            var attributes = ["role": "4"]
            attributes["ref"] = ledger.orgIdentifier(of: member.organisationId)
            attributes["type"] = organisationType(ledger.organisations[member.organisationId])
            out.open("participating-org", attributes)
            out.narrative(ledger.name(of: member.organisationId))
            out.close("participating-org")
        }
        out.empty("activity-status", ["code": grant.closed == nil ? "2" : "4"])
        out.empty("activity-date", ["type": "1", "iso-date": award.startDate.description])
        out.empty("activity-date", ["type": "3", "iso-date": award.endDate.description])
        if let closed = grant.closed {
            out.empty("activity-date", ["type": "4", "iso-date": closed.closedOn.description])
        }
        let lead = ExportLedger.lead(of: grant)
        transaction(
            &out, type: "2", date: award.awardedOn, value: award.amount.description,
            description: "Grant award, contract \(award.contractNumber)", provider: nil, receiver: lead, ledger: ledger)
        for tranche in grant.tranches {
            transaction(
                &out, type: "3", date: tranche.paidOn, value: tranche.amount.description, description: "Tranche",
                provider: nil, receiver: lead, ledger: ledger)
        }
        // Sub-grants: the grantee commits to a third party and pays it. A cancelled sub-grant
        // keeps its commitment, reversed by a negative commitment on the day it was cancelled.
        for subGrant in ledger.subGrants(of: award.grantId) {
            let sub = subGrant.award
            transaction(
                &out, type: "2", date: sub.awardedOn, value: sub.amount.description,
                description: "Sub-grant \(sub.subGrantId): \(sub.purpose)", provider: lead,
                receiver: sub.organisationId, ledger: ledger)
            for payment in subGrant.payments {
                transaction(
                    &out, type: "3", date: payment.paidOn, value: payment.amount.description,
                    description: "Sub-grant \(sub.subGrantId) payment", provider: lead, receiver: sub.organisationId,
                    ledger: ledger)
            }
            if let cancelled = subGrant.cancelled {
                transaction(
                    &out, type: "2", date: cancelled.cancelledOn, value: "-" + sub.amount.description,
                    description: "Sub-grant \(sub.subGrantId) cancelled: \(cancelled.reason)", provider: lead,
                    receiver: sub.organisationId, ledger: ledger)
            }
        }
        try await result(grant, into: &out)
        out.close("iati-activity")
    }

    private func transaction(
        _ out: inout XMLWriter, type: String, date: BusinessDate, value: String, description: String,
        provider: String?, receiver: String?, ledger: ExportLedger
    ) {
        out.open("transaction")
        out.empty("transaction-type", ["code": type])
        out.empty("transaction-date", ["iso-date": date.description])
        out.element("value", ["currency": "EUR", "value-date": date.description], text: value)
        out.open("description")
        out.narrative(description)
        out.close("description")
        // The provider is the funder unless given; the receiver only when given.
        organisation(provider, as: "provider-org", ledger: ledger, into: &out)
        if let receiver { organisation(receiver, as: "receiver-org", ledger: ledger, into: &out) }
        out.close("transaction")
    }

    /// A transaction's organisation element: an organisation of the ledger (its org-id when it
    /// has one, and its name), or the reporting org for nil.
    private func organisation(
        _ organisationId: String?, as element: String, ledger: ExportLedger, into out: inout XMLWriter
    ) {
        var attributes: [String: String] = [:]
        attributes["ref"] = organisationId.map(ledger.orgIdentifier(of:)) ?? reportingOrg.ref
        out.open(element, attributes)
        out.narrative(organisationId.map(ledger.name(of:)) ?? reportingOrg.name)
        out.close(element)
    }

    /// Indicator I.3 for the grant's call, one period per calendar year of the grant, with
    /// the total and its leadership-gender and region dimensions.
    private func result(_ grant: GrantState, into out: inout XMLWriter) async throws {
        let award = grant.award
        out.open("result", ["type": "2", "aggregation-status": "false"])
        out.open("title")
        out.narrative("Small civil society organisations accessing EU funding (Roadmap indicator I.3)")
        out.close("title")
        out.open("indicator", ["measure": "1", "ascending": "true"])
        out.open("title")
        out.narrative(
            "I.3: small Kazakhstani CSOs accessing EU funding through consortia or sub-grants under call \(award.callId)"
        )
        out.close("title")
        for year in award.startDate.year...award.endDate.year {
            let figures = try await i3(award.callId, year)
            out.open("period")
            out.empty("period-start", ["iso-date": "\(year)-01-01"])
            out.empty("period-end", ["iso-date": "\(year)-12-31"])
            out.empty("actual", ["value": String(figures.total)])
            for gender in LeadershipGender.allCases {
                out.open("actual", ["value": String(figures.byLeadershipGender[gender] ?? 0)])
                out.empty("dimension", ["name": "leadershipGender", "value": gender.rawValue])
                out.close("actual")
            }
            for region in Region.codes {
                out.open("actual", ["value": String(figures.byRegion[region] ?? 0)])
                out.empty("dimension", ["name": "region", "value": region])
                out.close("actual")
            }
            out.close("period")
        }
        out.close("indicator")
        out.close("result")
    }

    /// IATI OrganisationType: 21 international NGO; 24 an NGO based in Kazakhstan (the
    /// partner country); 22 a national NGO elsewhere; none for an informal group or other.
    private func organisationType(_ profile: OrganisationProfile?) -> String? {
        guard let profile else { return nil }
        switch profile.kind {
        case .ingo: return "21"
        case .ngo, .publicAssociation, .foundation: return profile.country == "KZ" ? "24" : "22"
        case .informalGroup, .other: return nil
        }
    }
}

/// A small XML writer: escaped text and attributes (in a stable order), indentation, and
/// characters XML 1.0 cannot carry replaced by U+FFFD.
struct XMLWriter {
    private(set) var text = ""
    private var depth = 0

    mutating func raw(_ string: String) { text += string }

    mutating func comment(_ string: String) {
        text += "<!-- " + XMLWriter.escape(string).replacingOccurrences(of: "--", with: "- -") + " -->\n"
    }

    mutating func open(_ name: String, _ attributes: [String: String] = [:]) {
        text += indent + "<" + name + XMLWriter.attributes(attributes) + ">\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        text += indent + "</" + name + ">\n"
    }

    mutating func empty(_ name: String, _ attributes: [String: String] = [:]) {
        text += indent + "<" + name + XMLWriter.attributes(attributes) + "/>\n"
    }

    mutating func element(_ name: String, _ attributes: [String: String] = [:], text value: String) {
        text +=
            indent + "<" + name + XMLWriter.attributes(attributes) + ">" + XMLWriter.escape(value) + "</" + name + ">\n"
    }

    mutating func narrative(_ value: String) { element("narrative", text: value) }

    private var indent: String { String(repeating: "  ", count: depth) }

    private static func attributes(_ attributes: [String: String]) -> String {
        attributes.sorted { $0.key < $1.key }.map { " \($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    /// Escapes markup and replaces what XML 1.0 forbids (controls but tab, LF, CR; U+FFFE/F).
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out += "&#\(scalar.value);"
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
                out.unicodeScalars.append("\u{FFFD}")
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
