import EventStore
import Foundation
import GrantDomain
import PersonalDataKeys
import PostgresClient

/// The history of one entity: the events of its stream in order and, with `related`, those
/// of the entities that point at it (`audit history`, `GET /v1/{kinds}/{id}/history`).
///
/// Every event carries its position and leaf index, so any of them can be proved with
/// `audit prove --position`.
public struct EntityHistory: Sendable, Encodable {
    public struct Entry: Sendable, Encodable {
        public var position: Int64
        /// The event's leaf in the Merkle tree (its rank in the sealed log).
        public var leafIndex: Int64
        public var streamId: String
        /// True for an event of another entity's stream that points at this one.
        public var related: Bool
        public var type: String
        /// The event's business dates, by field (`awardedOn`, `paidOn`, `startDate`, ...).
        public var dates: [String: BusinessDate]
        public var recordedAt: String
        @NullEncoded public var actor: String?
        @NullEncoded public var commandId: String?
        /// The event's content hash (lowercase hex), the input of its Merkle leaf.
        public var hash: String
        /// The fields the event records (for an update, the new values); nulls left out.
        public var changes: JSONValue
    }

    public var kind: String
    public var id: String
    public var related: Bool
    public var asOf: AsOf
    public var events: [Entry]
    /// With a page size: the position to continue after, or null when this page is the last.
    @NullEncoded public var next: Int64?
}

extension EntityQueries {
    /// The history of the entity `kind`/`id` up to `cutOff`, sealed first so that every
    /// listed event is a leaf of the tree.
    /// - Throws: `DomainError.notFound` when the entity has no event at the cut-off,
    ///   `.invalid` for a cut-off beyond the head.
    /// - Parameters:
    ///   - after: list only the events after this position (a page's `next`).
    ///   - limit: at most this many events (nil: all); `next` then says where to go on.
    public func history(
        _ kind: EntityKind, _ id: String, related: Bool, cutOff: CutOff = .head, after: Int64 = 0, limit: Int? = nil
    ) async throws -> EntityHistory {
        let store = EventStore(pool: pool)
        let head = try await store.seal()
        let cut = try await resolveCutOff(cutOff, head: head.position, store: store)
        let stream = kind.stream(id)
        return try await pool.withConnection { connection in
            let session = StoreSession(connection: connection)
            // The streams that point at the entity, then their events by stream.
            var streams = [stream]
            if related {
                streams += try await session.streams(
                    naming: id, under: kind.pointer, asMember: kind == .organisation, except: stream, upTo: cut)
            }
            let rows = try await session.sealedEvents(
                of: streams, after: after, upTo: cut, limit: limit.map { Int64($0) + 1 } ?? Int64.max)
            // The entity exists at the cut-off when its own stream has an event there.
            guard try await session.streamExists(stream, at: cut) else {
                throw DomainError(.notFound, "\(kind.argumentName) \"\(id)\" has no event at position \(cut)")
            }
            let page = limit.map { Array(rows.prefix($0)) } ?? rows
            let more = limit.map { rows.count > $0 } ?? false
            // Texts opened for the reader (docs/domain.md §15); the hash is the recorded event's.
            let opened = try await session.openedData(page.map { ($0.type, $0.data) })
            let entries = zip(page, opened).map { row, text in
                let data = JSONValue.parse(text) ?? .object([:])
                return EntityHistory.Entry(
                    position: row.position, leafIndex: row.leafIndex, streamId: row.streamID,
                    related: row.streamID != stream, type: row.type, dates: Self.businessDates(of: row.type, in: data),
                    recordedAt: row.recordedAt?.rfc3339 ?? "", actor: row.actor, commandId: row.commandID,
                    hash: row.hash.hexString, changes: Self.withoutNulls(data))
            }
            return EntityHistory(
                kind: kind.argumentName, id: id, related: related, asOf: try await I3Reporter.asOf(cut, on: connection),
                events: entries, next: more ? entries.last?.position : nil)
        }
    }

    /// The fields of each event type that are business dates, from the command table.
    static let dateFields: [String: [String]] = Dictionary(
        CommandTable.specs.map { spec in (spec.event, spec.fields.filter { $0.type == .date }.map(\.name)) },
        uniquingKeysWith: { first, _ in first })

    static func businessDates(of type: String, in data: JSONValue) -> [String: BusinessDate] {
        guard case .object(let fields) = data else { return [:] }
        var dates: [String: BusinessDate] = [:]
        for name in dateFields[type] ?? [] {
            if case .string(let text)? = fields[name], let date = BusinessDate(text) { dates[name] = date }
        }
        return dates
    }

    static func withoutNulls(_ value: JSONValue) -> JSONValue {
        guard case .object(let fields) = value else { return value }
        return .object(fields.filter { $0.value != .null })
    }
}

extension EntityHistory {
    /// The columns of the CSV and the table.
    static let columns = [
        "position", "leafIndex", "streamId", "related", "type", "dates", "recordedAt", "actor", "commandId", "hash",
        "changes",
    ]

    func cells(_ entry: Entry) -> [String] {
        [
            String(entry.position), String(entry.leafIndex), entry.streamId, entry.related ? "yes" : "", entry.type,
            entry.dates.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
            entry.recordedAt, entry.actor ?? "", entry.commandId ?? "", entry.hash, ResponseJSON.text(entry.changes),
        ]
    }

    /// One row per event, with a header row; `changes` as JSON text.
    public var csv: String {
        ([Self.columns] + events.map(cells)).map { $0.map(CSV.field).joined(separator: ",") }
            .joined(separator: "\r\n") + "\r\n"
    }

    /// Tab-separated lines under a heading that names the point of the log.
    public var table: String {
        var lines = [
            "history of \(kind) \(id)\(related ? " with related entities" : "") as of position \(asOf.position)"
                + (asOf.treeSize.map { ", tree \($0) leaves, root \(asOf.rootHash ?? "")" } ?? ""),
            Self.columns.joined(separator: "\t"),
        ]
        lines += events.map { cells($0).joined(separator: "\t") }
        return lines.joined(separator: "\n") + "\n"
    }
}
