import EventStore
import Foundation
import GrantDomain
import PostgresClient

/// An event handed to projections: its log position and time, and the decoded fact.
public struct ProjectedEvent: Sendable {
    public var position: Int64
    public var recordedAt: RecordingTime
    public var event: DomainEvent
    /// The event's metadata as canonical JSON text (`actor`, `commandId`, ...).
    public var metadata: String = "{}"

    /// Who recorded the event, from the metadata; decoded only when asked for.
    public var actor: String? {
        struct Metadata: Decodable { var actor: String? }
        return (try? JSONDecoder().decode(Metadata.self, from: Data(metadata.utf8)))?.actor
    }

    /// The events of types this version knows, decoded; others are passed over. An event of
    /// a known type whose data does not fit it is not projected (treated as absent) and is
    /// returned in `quarantined`: one malformed event never stops a projection. The folds
    /// decode from the result's bytes instead (`decoding(_:_:opened:)`); this decoding of
    /// texts is what the tests hold that one to.
    static func decoding(_ events: ArraySlice<LogEntry>) -> (
        events: [ProjectedEvent], quarantined: [QuarantinedEvent]
    ) {
        var out: [ProjectedEvent] = []
        var quarantined: [QuarantinedEvent] = []
        out.reserveCapacity(events.count)
        for event in events {
            switch DomainEvent.decodeOrQuarantine(position: event.position, type: event.type, data: event.data) {
            case .event(let decoded):
                out.append(
                    ProjectedEvent(
                        position: event.position, recordedAt: event.recordedAt, event: decoded,
                        metadata: event.metadata))
            case .unknown: continue
            case .quarantined(let bad): quarantined.append(bad)
            }
        }
        return (out, quarantined)
    }

    /// `decoding(_:)` of rows `range` of a batch, each event decoded from the result's bytes.
    /// `opened` gives the data of row `index` of a known `type` with its sealed texts opened,
    /// nil for data decoded as it lies (its sealed texts read as placeholders).
    static func decoding(
        _ rows: LogEntryRows, _ range: Range<Int>,
        opened: (_ index: Int, _ type: String) -> String? = { _, _ in nil }
    ) throws -> (events: [ProjectedEvent], quarantined: [QuarantinedEvent]) {
        var out: [ProjectedEvent] = []
        var quarantined: [QuarantinedEvent] = []
        out.reserveCapacity(range.count)
        for index in range {
            let row = rows[index]
            let (position, recordedAt) = (try row.position(), try row.recordedAt())
            let decoded = try row.withTypeAndData { type, data in
                DomainEvent.decodeOrQuarantine(position: position, type: type, data: data) { opened(index, $0) }
            }
            switch decoded {
            case .event(let decoded):
                out.append(
                    ProjectedEvent(
                        position: position, recordedAt: recordedAt, event: decoded, metadata: try row.metadata()))
            case .unknown: continue
            case .quarantined(let bad): quarantined.append(bad)
            }
        }
        return (out, quarantined)
    }

    /// Where and when the event was recorded, and by whom.
    public var recorded: Recorded {
        Recorded(position: position, recordedAt: recordedAt.rfc3339, actor: actor)
    }
}

/// A read model fed from the log, kept in its own PostgreSQL schema, `rm_<name>`, with a
/// build twin `rm_<name>_build` for rebuilds; both are created by the migrations in `sql/`.
///
/// `apply` runs inside the runner's transaction, together with the checkpoint update, so a
/// batch is either fully projected and checkpointed or not at all.
public protocol Projection: Sendable {
    /// Short name: the schema is `rm_<name>`.
    var name: String { get }
    /// Projects a batch of consecutive events.
    func apply(_ batch: [ProjectedEvent], schema: String, on connection: PostgresConnection) async throws
    /// A builder that projects the whole log in memory and writes it once, for rebuilds
    /// into an empty schema.
    func makeBulkBuilder() -> any BulkProjectionBuilder
}

/// Builds a projection from scratch in memory: `add` every batch in log order, then take
/// its `writer` and run it into the empty schema.
public protocol BulkProjectionBuilder: AnyObject {
    func add(_ batch: [ProjectedEvent])
    /// Writes everything added so far; a value of its own, so that several projections'
    /// writes run at once, each on its own connection.
    func writer() -> BulkWrite
}

/// Writes a bulk-built projection into `schema` on `connection`.
public typealias BulkWrite = @Sendable (_ schema: String, _ connection: PostgresConnection) async throws -> Void
