import Foundation

/// A knowledge cut-off: how much of the log a report or replay may see.
public enum CutOff: Sendable, Hashable {
    /// The head of the log.
    case head
    /// A log position.
    case position(Int64)
    /// The last event recorded at or before this time.
    case time(RecordingTime)

    /// Parses `--as-of`: digits are a position, anything else an RFC 3339 timestamp.
    public static func parse(_ text: String) -> CutOff? {
        if let position = Int64(text), position >= 0 { return .position(position) }
        guard let date = ISO8601DateFormatter().date(from: text) ?? Self.fractional.date(from: text) else { return nil }
        return .time(RecordingTime(date: date))
    }

    nonisolated(unsafe) static let fractional: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}

extension RecordingTime {
    /// The RFC 3339 UTC text of `date`, with microseconds.
    public init(date: Date) {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = Date(timeIntervalSince1970: TimeInterval(micros / 1_000_000))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let base = formatter.string(from: seconds).replacingOccurrences(of: "Z", with: "")
        let fraction = String(micros % 1_000_000)
        self.init(rfc3339: base + "." + String(repeating: "0", count: 6 - fraction.count) + fraction + "Z")
    }
}

/// A cut-off position beyond the head of the log.
public struct CutOffError: Error, Sendable, CustomStringConvertible {
    public var position: Int64
    public var head: Int64

    public var description: String { "asOf position \(position) is beyond the head of the log (\(head))" }
}
