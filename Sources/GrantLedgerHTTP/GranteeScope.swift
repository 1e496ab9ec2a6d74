import EventStore
import GrantDomain

/// What a grantee token may touch: the grants whose lead at the award is its organisation,
/// the sub-grants and activities under them, and nothing else. Read from the log (a grant's
/// lead and an activity's grant never change once recorded), so a checked command cannot
/// be invalidated by a later event and a forged read-model row widens nothing.
struct GranteeScope: Sendable {
    let organisationId: String
    let store: EventStore

    static let forbidden = APIError.forbidden(
        "a grantee token reads only the grants its organisation leads and the sub-grants and activities under them")

    /// True when the grant's lead at the award is the token's organisation.
    func leads(grant grantId: String) async throws -> Bool {
        for event in try await store.readStream(Streams.grant(grantId)) {
            if case .grantAwarded(let award)? = try? DomainEvent.decode(type: event.type, data: event.data) {
                return award.members.contains { $0.role == .lead && $0.organisationId == organisationId }
            }
        }
        return false
    }

    /// The grant a sub-grant or an activity is under, from its first event.
    func grant(of kind: EntityKind, _ id: String) async throws -> String? {
        for event in try await store.readStream(kind.stream(id)) {
            switch try? DomainEvent.decode(type: event.type, data: event.data) {
            case .subGrantAwarded(let award)?: return award.grantId
            case .activityRecorded(let activity)?: return activity.organiser == .grantee ? activity.grantId : nil
            default: return nil
            }
        }
        return nil
    }

    /// Whether the token may read the entity.
    func owns(_ kind: EntityKind, _ id: String) async throws -> Bool {
        switch kind {
        case .grant: return try await leads(grant: id)
        case .subGrant, .activity:
            guard let grantId = try await grant(of: kind, id) else { return false }
            return try await leads(grant: grantId)
        default: return false
        }
    }

    /// Whether the token may read the event at `position` (and its proofs): one of an entity
    /// it owns.
    func owns(position: Int64) async throws -> Bool {
        guard let event = try await store.withSession({ try await $0.read(positions: [position]) }).first,
            let (kind, id) = EntityTable.entity(ofStream: event.streamID)
        else { return false }
        return try await owns(kind, id)
    }

    /// Refuses (403) any command but recording and retracting the organisation's own
    /// activities: organiser `grantee`, under a grant it leads.
    func authorize(_ command: Command) async throws {
        switch command {
        case .recordActivity(let activity):
            guard activity.organiser == .grantee, let grantId = activity.grantId else {
                throw APIError.forbidden("a grantee token records activities with organiser \"grantee\" only")
            }
            guard try await leads(grant: grantId) else {
                throw APIError.forbidden(
                    "grant \"\(grantId)\" is not led by \(organisationId): a grantee records activities under its own grants only"
                )
            }
        case .retractActivity(let retraction):
            guard try await owns(.activity, retraction.activityId) else {
                throw APIError.forbidden(
                    "activity \"\(retraction.activityId)\" is not one of \(organisationId)'s: a grantee retracts its own activities only"
                )
            }
        default:
            throw APIError.forbidden(
                "a grantee token may send recordActivity and retractActivity only, not \(command.name)")
        }
    }
}
