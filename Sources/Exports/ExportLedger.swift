import GrantDomain
import Projections

/// What the exports need from the log, folded up to a cut-off: organisations as they stand,
/// calls, and every grant and sub-grant with its payments, in award order.
public struct ExportLedger: Sendable {
    public private(set) var organisations: [String: OrganisationProfile] = [:]
    public private(set) var calls: [String: CallState] = [:]
    public private(set) var grants: [GrantState] = []
    public private(set) var subGrants: [SubGrantState] = []
    private var grantIndex: [String: Int] = [:]
    private var subGrantIndex: [String: Int] = [:]
    /// I.3 folded from the same events (docs/domain.md §14: an export's indicator values
    /// come from the log, never from a read model).
    public private(set) var i3 = I3Fold()
    /// Published files show confidential organisations only as these pseudonyms
    /// (docs/domain.md §15); nil: names (for staff's own use).
    public var pseudonyms: Pseudonyms?

    public init(pseudonyms: Pseudonyms? = nil) { self.pseudonyms = pseudonyms }

    /// Folds the next event of the log, recorded at `position`.
    public mutating func apply(_ event: DomainEvent, at position: Int64) {
        i3.apply(event, at: position)
        switch event {
        case .organisationRegistered(let e): organisations[e.organisationId] = e
        case .organisationProfileUpdated(let e):
            organisations[e.organisationId] = organisations[e.organisationId]?.applying(e)
        case .personalDataErased(let e):
            organisations[e.organisationId]?.name = PersonalData.erased
            for index in subGrants.indices where subGrants[index].award.organisationId == e.organisationId {
                subGrants[index].erasePersonalTexts()
            }
        case .callPublished(let e): calls[e.callId] = CallState(call: e)
        case .callClosed(let e): calls[e.callId]?.apply(event)
        case .grantAwarded(let e):
            grantIndex[e.grantId] = grants.count
            grants.append(GrantState(award: e))
        case .grantTrancheDisbursed(let e): grantIndex[e.grantId].map { grants[$0].apply(event) }
        case .grantClosed(let e): grantIndex[e.grantId].map { grants[$0].apply(event) }
        case .subGrantAwarded(let e):
            subGrantIndex[e.subGrantId] = subGrants.count
            subGrants.append(SubGrantState(award: e))
        case .subGrantDisbursed(let e): subGrantIndex[e.subGrantId].map { subGrants[$0].apply(event) }
        case .subGrantCancelled(let e): subGrantIndex[e.subGrantId].map { subGrants[$0].apply(event) }
        default: break
        }
    }

    /// The grants under calls of `programme` (all of them for nil), in award order.
    public func grants(inProgramme programme: String?) -> [GrantState] {
        grants.filter { programme == nil || calls[$0.award.callId]?.call.programme == programme }
    }

    /// The sub-grants of `grantId`, in award order.
    public func subGrants(of grantId: String) -> [SubGrantState] {
        subGrants.filter { $0.award.grantId == grantId }
    }

    /// The pseudonym a published file shows for the organisation, nil when it shows the
    /// organisation (not confidential, or no pseudonyms asked for). An organisation the
    /// ledger does not know is withheld too.
    public func pseudonym(of organisationId: String) -> String? {
        guard let pseudonyms, organisations[organisationId]?.isConfidential ?? true else { return nil }
        return pseudonyms.pseudonym(organisationId)
    }

    /// The organisation's name as it stands (its identifier when unknown), or for a withheld
    /// one "Civil society group, <region>".
    public func name(of organisationId: String) -> String {
        if pseudonym(of: organisationId) != nil {
            return Pseudonyms.name(regionCode: organisations[organisationId]?.regionCode)
        }
        return organisations[organisationId]?.name ?? organisationId
    }

    /// The org-id.guide identifier of a registered Kazakhstani organisation (`KZ-BIN-<bin>`),
    /// nil for any other and for a withheld one.
    public func orgIdentifier(of organisationId: String) -> String? {
        guard pseudonym(of: organisationId) == nil, let profile = organisations[organisationId],
            profile.country == "KZ", let bin = profile.bin
        else {
            return nil
        }
        return "KZ-BIN-\(bin)"
    }

    /// The lead of a grant's consortium as recorded at the award.
    public static func lead(of grant: GrantState) -> String? {
        grant.award.members.first { $0.role == .lead }?.organisationId
    }
}
