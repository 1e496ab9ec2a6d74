/// Parses JSON text (RFC 8259) into a `JSONValue` in one pass over its UTF-8 bytes: the
/// command path's and the event readers' parser, in place of Foundation's `JSONDecoder`
/// tried type after type.
///
/// It accepts what that decoder accepted, with the same values, which the tests check on
/// random and hostile texts: a leading byte-order mark and a comma before a closing bracket
/// are let through; of a key given twice, the first one counts; a lone surrogate escape, a
/// control character in a string, trailing text, a number too large for a finite `Double`
/// and nesting deeper than 512 are refused. A number is an integer when its exact decimal
/// value is a whole number that `Int64` holds (`5`, `5.0`, `5e2`), else a `Double`. Only
/// there does it differ from Foundation, which rounded through `Double` first: it read
/// `1.0000000000000000001` and `1e-400` as the integers 1 and 0; they are numbers here, equal
/// to the same `Double`. (Foundation also guessed UTF-16 for a text starting with U+0000; a
/// Swift string is UTF-8, and such a text is refused.)
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    private struct Malformed: Error {}

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The value `text` holds; nil when it is not exactly one JSON value.
    public static func parse(_ text: String) -> JSONValue? {
        whole(text) { try $0.value() }
    }

    /// What `top` reads of `text` (after a byte-order mark and spaces); nil when it fails or
    /// leaves anything but spaces after it.
    private static func whole<Top>(_ text: String, _ top: (inout JSONParser) throws -> Top) -> Top? {
        var text = text
        return text.withUTF8 { whole($0, top) }
    }

    /// `whole` of UTF-8 bytes.
    private static func whole<Top>(_ bytes: UnsafeBufferPointer<UInt8>, _ top: (inout JSONParser) throws -> Top)
        -> Top?
    {
        var parser = JSONParser(bytes)
        do {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
            parser.skipWhitespace()
            let value = try top(&parser)
            parser.skipWhitespace()
            return parser.index == bytes.count ? value : nil
        } catch {
            return nil
        }
    }

    /// What `parseObject` found: the members of an object, or any other JSON value.
    public enum Parsed {
        case object(JSONObject)
        case value(JSONValue)

        /// The value as `parse` gives it.
        public var value: JSONValue {
            switch self {
            case .object(let object): return .object(object.fields)
            case .value(let value): return value
            }
        }
    }

    /// The value `text` holds, as `parse` reads it, except that an object at the top is kept
    /// as its members in their order in the text (`JSONObject`), not hashed into a
    /// dictionary: for readers that look up each of its members once by name, such as the
    /// decoders of stored events. Nested objects are parsed as by `parse`. nil when `text`
    /// is not exactly one JSON value.
    public static func parseObject(_ text: String) -> Parsed? {
        var text = text
        return text.withUTF8 { parseObject(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// `parseObject` of a text's UTF-8 bytes, as a result row holds them: for readers that
    /// decode stored data without making a `String` of it first. Bytes that are not UTF-8
    /// inside a string are repaired as `String(decoding:as:)` repairs them.
    public static func parseObject(utf8 bytes: UnsafeRawBufferPointer) -> Parsed? {
        whole(bytes.assumingMemoryBound(to: UInt8.self)) { parser in
            guard try parser.peek() == UInt8(ascii: "{") else { return .value(try parser.value()) }
            var members: [(key: String, value: JSONValue)] = []
            members.reserveCapacity(16)
            try parser.members(into: &members) { members, key, item in members.append((key, item)) }
            return .object(JSONObject(members: members))
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek() throws -> UInt8 {
        guard index < bytes.count else { throw Malformed() }
        return bytes[index]
    }

    private mutating func expect(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw Malformed() }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] { throw Malformed() }
        index += count
    }

    private mutating func value() throws -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        default: return try number()
        }
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw Malformed() }
        index += 1
        skipWhitespace()
    }

    private mutating func object() throws -> JSONValue {
        var fields: [String: JSONValue] = [:]
        try members(into: &fields) { fields, key, item in
            // The first value of a repeated key is kept; one look-up in the usual case.
            if let first = fields.updateValue(item, forKey: key) { fields[key] = first }
        }
        return .object(fields)
    }

    /// The members of the object at `index` (its opening brace), each handed to `add` in
    /// their order in the text.
    private mutating func members<Members>(
        into members: inout Members, _ add: (inout Members, String, JSONValue) -> Void
    ) throws {
        try enter()
        defer { depth -= 1 }
        if try peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        var count = 0
        while true {
            if try peek() == UInt8(ascii: "}"), count > 0 {
                // A comma before the closing brace, as Foundation let through.
                index += 1
                return
            }
            guard try peek() == UInt8(ascii: "\"") else { throw Malformed() }
            let key = try string()
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw Malformed() }
            index += 1
            skipWhitespace()
            add(&members, key, try value())
            count += 1
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw Malformed()
            }
        }
    }

    private mutating func array() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        if try peek() == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            if try peek() == UInt8(ascii: "]"), !items.isEmpty {
                // A comma before the closing bracket, as Foundation let through.
                index += 1
                return .array(items)
            }
            items.append(try value())
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: throw Malformed()
            }
        }
    }

    /// A string at `index` (its opening quote). The input is a Swift `String`, so its bytes
    /// are valid UTF-8 already.
    private mutating func string() throws -> String {
        index += 1
        let start = index
        // The common case: no escape at all, one copy.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw Malformed() }
            index += 1
        }
        var scalars = String.UnicodeScalarView()
        var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll(keepingCapacity: true)
        }
        while true {
            let byte = try peek()
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                let escaped = try peek()
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    flush()
                    scalars.append(try escapedScalar())
                default: throw Malformed()
                }
            case 0..<0x20:
                throw Malformed()
            default:
                utf8.append(byte)
            }
        }
    }

    /// The scalar of `\uXXXX` (after its `\u`), or of a surrogate pair `\uD8XX\uDCXX`.
    private mutating func escapedScalar() throws -> Unicode.Scalar {
        let first = try hex4()
        switch first {
        case 0xD800..<0xDC00:
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw Malformed() }
            index += 2
            let second = try hex4()
            guard (0xDC00..<0xE000).contains(second) else { throw Malformed() }
            let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            guard let scalar = Unicode.Scalar(value) else { throw Malformed() }
            return scalar
        case 0xDC00..<0xE000:
            throw Malformed()
        default:
            guard let scalar = Unicode.Scalar(first) else { throw Malformed() }
            return scalar
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - index >= 4 else { throw Malformed() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw Malformed()
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }

    private mutating func number() throws -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count else { throw Malformed() }
        let integerStart = index
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() > 0 else { throw Malformed() }
        }
        let integerDigits = integerStart..<index
        var fractionDigits = index..<index
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            guard digits() > 0 else { throw Malformed() }
            fractionDigits = fractionStart..<index
        }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            guard digits() > 0 else { throw Malformed() }
            for byte in bytes[exponentStart..<index] {
                // Far beyond any Int64 or Double either way; the cap keeps the sum exact.
                exponent = min(exponent * 10 + Int(byte - UInt8(ascii: "0")), 100_000)
            }
            if exponentNegative { exponent = -exponent }
        }
        if let integer = Self.wholeNumber(
            negative: negative, digits: Array(bytes[integerDigits]) + Array(bytes[fractionDigits]),
            exponent: exponent - fractionDigits.count)
        {
            return .integer(integer)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw Malformed() }
        return .number(double)
    }

    /// The value of the decimal digits `digits` × 10^`exponent` when it is a whole number
    /// that `Int64` holds; nil otherwise.
    private static func wholeNumber(negative: Bool, digits: [UInt8], exponent: Int) -> Int64? {
        var significant = Array(digits.drop { $0 == UInt8(ascii: "0") })
        if significant.isEmpty { return 0 }
        var exponent = exponent
        // Trailing zeros pay for a negative exponent; what remains must not be fractional.
        while exponent < 0, significant.last == UInt8(ascii: "0") {
            significant.removeLast()
            exponent += 1
        }
        guard exponent >= 0, significant.count + exponent <= 19 else { return nil }
        var magnitude: UInt64 = 0
        for digit in significant + Array(repeating: UInt8(ascii: "0"), count: exponent) {
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdding) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow, !overflowAdding else { return nil }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        return Int64(exactly: magnitude)
    }
}
