import Foundation

/// A knowledge cut-off: how much of the log a report or replay may see.
public enum CutOff: Sendable, Hashable {
    /// The head of the log.
    case head
    /// A log position.
    case position(Int64)
    /// The last event recorded at or before this time.
    case time(RecordingTime)

    /// Parses `--as-of` / `asOf`: ASCII digits are a position, anything else an RFC 3339
    /// timestamp (see `RecordingTime.init?(rfc3339Input:)`); nil for anything else. Never
    /// traps, whatever the text.
    public static func parse(_ text: String) -> CutOff? {
        let bytes = Array(text.utf8)
        if !bytes.isEmpty, bytes.allSatisfy({ (48...57).contains($0) }) {
            guard bytes.count <= 19, let position = Int64(text) else { return nil }
            return .position(position)
        }
        return RecordingTime(rfc3339Input: text).map(CutOff.time)
    }
}

extension RecordingTime {
    /// Parses an RFC 3339 timestamp given by a user, in ASCII only:
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with years 0001 to 9999; an instant that
    /// the offset moves out of those years is clamped to the nearest one inside. A leap second (`:60`) counts as the first instant of the next minute, as in
    /// PostgreSQL; fractions beyond microseconds are rounded half up, as PostgreSQL does.
    public init?(rfc3339Input text: String) {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 40 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for byte in b[start..<(start + count)] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(b[10]),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
            b[16] == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < b.count, (48...57).contains(b[index]) { index += 1 }
            let count = index - start
            guard (1...9).contains(count) else { return nil }
            var fraction = Array(b[start..<index]) + Array(repeating: UInt8(ascii: "0"), count: 9 - count)
            let nanos = fraction.reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
            fraction.removeAll()
            micros = (nanos + 500) / 1000
        }
        var offsetMinutes = 0
        guard index < b.count else { return nil }
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[index] == UInt8(ascii: "-") ? -1 : 1
            guard let hours = digits(index + 1, 2), index + 3 < b.count, b[index + 3] == UInt8(ascii: ":"),
                let minutes = digits(index + 4, 2), hours <= 23, minutes <= 59
            else { return nil }
            offsetMinutes = sign * (hours * 60 + minutes)
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = Int64(Self.daysFromCivil(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        // An offset can carry 0001-01-01 or 9999-12-31 out of four-digit years; as a cut-off
        // such an instant means the same as the first or last one that fits, so clamp.
        let first = Int64(Self.daysFromCivil(year: 1, month: 1, day: 1)) * 86_400_000_000
        let last = Int64(Self.daysFromCivil(year: 10_000, month: 1, day: 1)) * 86_400_000_000 - 1
        self.init(microsecondsSinceEpoch: min(max(seconds * 1_000_000 + micros, first), last))
    }

    /// The instant `date`, to the microsecond: the one RFC 3339 writer for times the
    /// system stamps itself (an export's `generatedAt`).
    public init(date: Date) {
        self.init(microsecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down)))
    }

    /// The fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) of an instant in the years
    /// 0001-9999.
    public init(microsecondsSinceEpoch micros: Int64) {
        // Floor division: instants before 1970 have negative remainders otherwise.
        let (secondsFloor, fraction) = Self.floorDivide(micros, 1_000_000)
        let (days, secondOfDay) = Self.floorDivide(secondsFloor, 86_400)
        let (year, month, day) = Self.civilFromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        self.init(
            rfc3339: "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
                + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))Z")
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A cut-off position beyond the head of the log.
public struct CutOffError: Error, Sendable, CustomStringConvertible {
    public var position: Int64
    public var head: Int64

    public var description: String { "asOf position \(position) is beyond the head of the log (\(head))" }
}
