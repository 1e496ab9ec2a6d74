import EventStore
import Foundation
import GrantDomain
import Transparency

/// A docs/domain.md §5 error: `{"error": {"code", "message"}}`.
public struct ErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
    }
    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

/// One recorded event, without its payload: what a command's answer lists.
public struct EventSummary: Codable, Sendable, Equatable {
    public var position: Int64
    public var type: String
    public var streamId: String
    public var streamVersion: Int64
    public var eventId: String
    public var recordedAt: String
    /// The event's content hash (lowercase hex), the input of its Merkle leaf; where known.
    public var hash: String?
    /// A signed note over position, hash and recordedAt (`Receipt`), when the log has a key.
    public var receipt: String?

    public init(_ event: RecordedEvent) {
        position = event.position
        type = event.type
        streamId = event.streamID
        streamVersion = event.streamVersion
        eventId = event.eventID.uuidString.lowercased()
        recordedAt = event.recordedAt.rfc3339
        hash = event.hash.map(Hex.encode)
    }
}

/// The answer to an accepted command.
public struct CommandResult: Codable, Sendable, Equatable {
    /// True when the command id had been accepted before and nothing new was recorded.
    public var replayed: Bool
    public var events: [EventSummary]

    /// - Parameter signer: the log's key; with one, every event carries a signed receipt.
    public init(_ outcome: CommandOutcome, signer: NoteSigner? = nil) throws {
        replayed = outcome.replayed
        events = try outcome.events.map { event in
            var summary = EventSummary(event)
            if let signer, let hash = event.hash {
                summary.receipt = try Receipt(
                    origin: signer.name, position: event.position, hash: hash, recordedAt: summary.recordedAt
                ).signed(by: signer)
            }
            return summary
        }
    }
}

/// One event of the log with its payload (docs/domain.md §3): the summary's keys and
/// `data` and `metadata`, in one JSON object.
public struct LoggedEvent: Codable, Sendable, Equatable, Flattened {
    public var summary: EventSummary
    public var data: JSONValue
    public var metadata: JSONValue

    public init(_ event: RecordedEvent) {
        summary = EventSummary(event)
        data = JSONValue.parse(event.data) ?? .null
        metadata = JSONValue.parse(event.metadata) ?? .null
    }

    public var base: EventSummary { summary }

    public enum ExtraKeys: String, CodingKey { case data, metadata }

    public init(base: EventSummary, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        summary = base
        data = try extras.decode(JSONValue.self, forKey: .data)
        metadata = try extras.decode(JSONValue.self, forKey: .metadata)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(data, forKey: .data)
        try container.encode(metadata, forKey: .metadata)
    }
}

/// A page of the log: the events, and the position to continue after.
public struct EventPage: Codable, Sendable, Equatable {
    public var events: [LoggedEvent]
    public var next: Int64

    public init(events: [RecordedEvent], after: Int64) {
        self.events = events.map(LoggedEvent.init)
        next = events.last?.position ?? after
    }
}

/// A page of a collection: the documents, and the cursor of the next page (null at the end).
public struct EntityPage: Codable, Sendable, Equatable {
    public var items: [JSONValue]
    public var nextCursor: String?

    public init(items: [JSONValue], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey { case items, nextCursor }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        // Present as null at the end, so that a client can tell the last page.
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}
