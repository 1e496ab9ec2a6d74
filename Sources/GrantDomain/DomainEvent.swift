import Foundation

/// A recorded fact, as named in docs/domain.md §2.
public enum DomainEvent: Sendable, Hashable {
    case organisationRegistered(RegisterOrganisation)
    case organisationProfileUpdated(UpdateOrganisationProfile)
    case reportingRulesSet(ReportingRules)
    case callPublished(PublishCall)
    case callClosed(CloseCall)
    case consortiumFormed(FormConsortium)
    case consortiumMemberAdded(AddConsortiumMember)
    case consortiumMemberRemoved(RemoveConsortiumMember)
    case applicationSubmitted(SubmitApplication)
    case applicationEvaluated(EvaluateApplication)
    case applicationRejected(RejectApplication)
    case applicationWithdrawn(WithdrawApplication)
    case grantAwarded(GrantAwarded)
    case grantTrancheDisbursed(DisburseGrant)
    case grantClosed(CloseGrant)
    case subGrantAwarded(SubGrantAwarded)
    case subGrantDisbursed(DisburseSubGrant)
    case subGrantCancelled(CancelSubGrant)

    /// The event type as stored (`"GrantAwarded"`).
    public var type: String {
        switch self {
        case .organisationRegistered: return "OrganisationRegistered"
        case .organisationProfileUpdated: return "OrganisationProfileUpdated"
        case .reportingRulesSet: return "ReportingRulesSet"
        case .callPublished: return "CallPublished"
        case .callClosed: return "CallClosed"
        case .consortiumFormed: return "ConsortiumFormed"
        case .consortiumMemberAdded: return "ConsortiumMemberAdded"
        case .consortiumMemberRemoved: return "ConsortiumMemberRemoved"
        case .applicationSubmitted: return "ApplicationSubmitted"
        case .applicationEvaluated: return "ApplicationEvaluated"
        case .applicationRejected: return "ApplicationRejected"
        case .applicationWithdrawn: return "ApplicationWithdrawn"
        case .grantAwarded: return "GrantAwarded"
        case .grantTrancheDisbursed: return "GrantTrancheDisbursed"
        case .grantClosed: return "GrantClosed"
        case .subGrantAwarded: return "SubGrantAwarded"
        case .subGrantDisbursed: return "SubGrantDisbursed"
        case .subGrantCancelled: return "SubGrantCancelled"
        }
    }

    /// The stream the event belongs to.
    public var streamID: String {
        switch self {
        case .organisationRegistered(let e): return Streams.organisation(e.organisationId)
        case .organisationProfileUpdated(let e): return Streams.organisation(e.organisationId)
        case .reportingRulesSet: return Streams.reportingRules
        case .callPublished(let e): return Streams.call(e.callId)
        case .callClosed(let e): return Streams.call(e.callId)
        case .consortiumFormed(let e): return Streams.consortium(e.consortiumId)
        case .consortiumMemberAdded(let e): return Streams.consortium(e.consortiumId)
        case .consortiumMemberRemoved(let e): return Streams.consortium(e.consortiumId)
        case .applicationSubmitted(let e): return Streams.application(e.applicationId)
        case .applicationEvaluated(let e): return Streams.application(e.applicationId)
        case .applicationRejected(let e): return Streams.application(e.applicationId)
        case .applicationWithdrawn(let e): return Streams.application(e.applicationId)
        case .grantAwarded(let e): return Streams.grant(e.grantId)
        case .grantTrancheDisbursed(let e): return Streams.grant(e.grantId)
        case .grantClosed(let e): return Streams.grant(e.grantId)
        case .subGrantAwarded(let e): return Streams.subGrant(e.subGrantId)
        case .subGrantDisbursed(let e): return Streams.subGrant(e.subGrantId)
        case .subGrantCancelled(let e): return Streams.subGrant(e.subGrantId)
        }
    }

    /// One decoder for every event: creating one per call costs more than decoding.
    /// Decoding does not mutate it; it is Sendable.
    static let sharedDecoder = JSONDecoder()

    /// One encoder for every event, configured once and never changed afterwards.
    static let sharedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The data as a JSON object text.
    public var dataJSON: String {
        let encoder = Self.sharedEncoder
        let data: Data?
        switch self {
        case .organisationRegistered(let e): data = try? encoder.encode(e)
        case .organisationProfileUpdated(let e): data = try? encoder.encode(e)
        case .reportingRulesSet(let e): data = try? encoder.encode(e)
        case .callPublished(let e): data = try? encoder.encode(e)
        case .callClosed(let e): data = try? encoder.encode(e)
        case .consortiumFormed(let e): data = try? encoder.encode(e)
        case .consortiumMemberAdded(let e): data = try? encoder.encode(e)
        case .consortiumMemberRemoved(let e): data = try? encoder.encode(e)
        case .applicationSubmitted(let e): data = try? encoder.encode(e)
        case .applicationEvaluated(let e): data = try? encoder.encode(e)
        case .applicationRejected(let e): data = try? encoder.encode(e)
        case .applicationWithdrawn(let e): data = try? encoder.encode(e)
        case .grantAwarded(let e): data = try? encoder.encode(e)
        case .grantTrancheDisbursed(let e): data = try? encoder.encode(e)
        case .grantClosed(let e): data = try? encoder.encode(e)
        case .subGrantAwarded(let e): data = try? encoder.encode(e)
        case .subGrantDisbursed(let e): data = try? encoder.encode(e)
        case .subGrantCancelled(let e): data = try? encoder.encode(e)
        }
        return String(decoding: data ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Decodes a stored event; nil for a type this version does not know.
    /// - Throws: when the data does not fit the type.
    public static func decode(type: String, data: String) throws -> DomainEvent? {
        let decoder = sharedDecoder
        let bytes = Data(data.utf8)
        func d<T: Decodable>(_ t: T.Type) throws -> T { try decoder.decode(t, from: bytes) }
        switch type {
        case "OrganisationRegistered": return .organisationRegistered(try d(RegisterOrganisation.self))
        case "OrganisationProfileUpdated": return .organisationProfileUpdated(try d(UpdateOrganisationProfile.self))
        case "ReportingRulesSet": return .reportingRulesSet(try d(ReportingRules.self))
        case "CallPublished": return .callPublished(try d(PublishCall.self))
        case "CallClosed": return .callClosed(try d(CloseCall.self))
        case "ConsortiumFormed": return .consortiumFormed(try d(FormConsortium.self))
        case "ConsortiumMemberAdded": return .consortiumMemberAdded(try d(AddConsortiumMember.self))
        case "ConsortiumMemberRemoved": return .consortiumMemberRemoved(try d(RemoveConsortiumMember.self))
        case "ApplicationSubmitted": return .applicationSubmitted(try d(SubmitApplication.self))
        case "ApplicationEvaluated": return .applicationEvaluated(try d(EvaluateApplication.self))
        case "ApplicationRejected": return .applicationRejected(try d(RejectApplication.self))
        case "ApplicationWithdrawn": return .applicationWithdrawn(try d(WithdrawApplication.self))
        case "GrantAwarded": return .grantAwarded(try d(GrantAwarded.self))
        case "GrantTrancheDisbursed": return .grantTrancheDisbursed(try d(DisburseGrant.self))
        case "GrantClosed": return .grantClosed(try d(CloseGrant.self))
        case "SubGrantAwarded": return .subGrantAwarded(try d(SubGrantAwarded.self))
        case "SubGrantDisbursed": return .subGrantDisbursed(try d(DisburseSubGrant.self))
        case "SubGrantCancelled": return .subGrantCancelled(try d(CancelSubGrant.self))
        default: return nil
        }
    }
}

/// Stream names, one per entity.
public enum Streams {
    public static func organisation(_ id: String) -> String { "organisation-\(id)" }
    public static func call(_ id: String) -> String { "call-\(id)" }
    public static func consortium(_ id: String) -> String { "consortium-\(id)" }
    public static func application(_ id: String) -> String { "application-\(id)" }
    public static func grant(_ id: String) -> String { "grant-\(id)" }
    public static func subGrant(_ id: String) -> String { "subgrant-\(id)" }
    public static let reportingRules = "reporting-rules"
}
