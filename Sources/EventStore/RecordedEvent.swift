import Foundation

/// The moment an event entered the log, as RFC 3339 UTC with microseconds
/// (`2026-01-15T09:00:00.000000Z`). Set by the database, never by a caller.
///
/// Distinct from business dates on purpose: one says when the store learned a fact, the
/// other when it happened in the world.
public struct RecordingTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The fixed-width RFC 3339 text; fixed width makes text order equal time order.
    public let rfc3339: String

    public init(rfc3339: String) { self.rfc3339 = rfc3339 }

    /// Reads PostgreSQL's ISO output of a `timestamptz` in a UTC session
    /// (`2026-01-15 09:00:00.1234+00`), padding the fraction to microseconds.
    public init?(postgresUTC text: String) {
        var text = text
        guard let time = text.withUTF8({ Self(postgresUTCBytes: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = time
    }

    /// `init(postgresUTC:)` from the text's UTF-8 bytes, as a result row holds them.
    public init?(postgresUTCBytes bytes: UnsafeRawBufferPointer) {
        // "YYYY-MM-DD HH:MM:SS" + optional ".f{1,6}" + "+00"
        let count = bytes.count
        guard count >= 22, bytes[count - 3] == UInt8(ascii: "+"), bytes[count - 2] == UInt8(ascii: "0"),
            bytes[count - 1] == UInt8(ascii: "0"), bytes[10] == UInt8(ascii: " ")
        else { return nil }
        if count > 22 {
            guard bytes[19] == UInt8(ascii: "."), count - 23 <= 6 else { return nil }
        }
        self.rfc3339 = String(unsafeUninitializedCapacity: 27) { out in
            _ = out.initialize(from: repeatElement(UInt8(ascii: "0"), count: 27))
            for index in 0..<19 { out[index] = bytes[index] }
            out[10] = UInt8(ascii: "T")
            out[19] = UInt8(ascii: ".")
            if count > 22 {
                for index in 20..<(count - 3) { out[index] = bytes[index] }
            }
            out[26] = UInt8(ascii: "Z")
            return 27
        }
    }

    /// Reads an archive's `recordedAt` strictly: `YYYY-MM-DDTHH:MM:SS` with an optional
    /// fraction of 1 to 6 digits and `Z`, a real calendar date from year 0001 to 9999 and a
    /// real time. Anything PostgreSQL would also take (`infinity`, `epoch`, `now`, a time
    /// without a zone, an offset) is refused before PostgreSQL sees it.
    public init?(archived text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 27, bytes.last == UInt8(ascii: "Z") else { return nil }
        func digits(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = digits(0..<4), let month = digits(5..<7), let day = digits(8..<10),
            let hour = digits(11..<13), let minute = digits(14..<16), let second = digits(17..<19),
            year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard (1...days).contains(day) else { return nil }
        var fraction = ""
        if bytes.count > 20 {
            guard bytes[19] == UInt8(ascii: "."), bytes.count >= 22, digits(20..<(bytes.count - 1)) != nil else {
                return nil
            }
            fraction = String(decoding: bytes[20..<(bytes.count - 1)], as: UTF8.self)
        }
        self.rfc3339 =
            String(decoding: bytes[0..<19], as: UTF8.self) + "."
            + fraction.padding(toLength: 6, withPad: "0", startingAt: 0) + "Z"
    }

    public static func < (lhs: RecordingTime, rhs: RecordingTime) -> Bool { lhs.rfc3339 < rhs.rfc3339 }

    public var description: String { rfc3339 }

    public init(from decoder: any Decoder) throws {
        rfc3339 = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}

/// An event to append: the caller chooses stream, type and payload; the store assigns
/// position, version, recording time and hash.
public struct NewEvent: Sendable {
    /// The stream the event belongs to, e.g. `grant-G1`.
    public var streamID: String
    /// The event type, e.g. `GrantAwarded`.
    public var type: String
    /// The payload as a JSON object text.
    public var data: String
    /// The metadata as a JSON object text (`actor`, `commandId`, ...).
    public var metadata: String
    /// A fresh identifier; generated when not given.
    public var eventID: UUID

    public init(streamID: String, type: String, data: String, metadata: String, eventID: UUID = UUID()) {
        self.streamID = streamID
        self.type = type
        self.data = data
        self.metadata = metadata
        self.eventID = eventID
    }
}

/// An event as stored in the log.
public struct RecordedEvent: Sendable, Hashable {
    /// Global position, strictly increasing in the order readers see events.
    public var position: Int64
    /// The stream, e.g. `organisation-O1`.
    public var streamID: String
    /// 1, 2, 3, ... within the stream.
    public var streamVersion: Int64
    /// The event's unique id.
    public var eventID: UUID
    /// The event type.
    public var type: String
    /// The payload as canonical JSON text (jsonb's text form).
    public var data: String
    /// The metadata as canonical JSON text.
    public var metadata: String
    /// When the event entered the log.
    public var recordedAt: RecordingTime
    /// SHA-256 of the event's canonical form; nil where a read did not fetch it.
    public var hash: [UInt8]?
}

/// An event as the folds of the log read it (projections, replays, the drill-down's fold):
/// its place, type, data, metadata and recording time. The stream's id and version and the
/// event's id, which only appends, histories and the events API use, are not read: leaving
/// them in the database takes about an eighth off what PostgreSQL writes for a range of the
/// log, and a string and a UUID off what the reader makes of each row (docs/performance.md,
/// "Folds read five columns").
public struct LogEntry: Sendable, Hashable {
    public var position: Int64
    public var type: String
    public var data: String
    public var metadata: String
    public var recordedAt: RecordingTime

    public init(position: Int64, type: String, data: String, metadata: String, recordedAt: RecordingTime) {
        self.position = position
        self.type = type
        self.data = data
        self.metadata = metadata
        self.recordedAt = recordedAt
    }

    /// The parts of a recorded event a fold reads.
    public init(_ event: RecordedEvent) {
        self.init(
            position: event.position, type: event.type, data: event.data, metadata: event.metadata,
            recordedAt: event.recordedAt)
    }
}

/// What an append recorded.
public struct AppendResult: Sendable {
    /// The events, in position order (the first acceptance's, when `replayed`).
    public var events: [RecordedEvent]
    /// True when the command id had already been accepted and nothing new was written.
    public var replayed: Bool
}

/// The version a stream must be at for an append to go through.
public enum ExpectedVersion: Sendable, Hashable {
    /// Whatever version the stream is at.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must be at exactly this version.
    case exact(Int64)
}

/// A verified point of the global hash chain.
public struct ChainHead: Sendable, Hashable, Codable {
    /// The last sealed position (0 for an empty log).
    public var position: Int64
    /// The chain hash at that position, lowercase hex.
    public var hash: String

    public init(position: Int64, hash: String) {
        self.position = position
        self.hash = hash
    }
}
