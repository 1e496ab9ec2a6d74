/// PostgreSQL text form of a `text[]`: one pass over the bytes, quoting every element and
/// escaping backslashes and double quotes (bulk writes build millions of these).
public func textArray(_ values: some Collection<String?>) -> String {
    var out: [UInt8] = [UInt8(ascii: "{")]
    out.reserveCapacity(values.count * 16)
    var first = true
    for value in values {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        guard var value else {
            out.append(contentsOf: "NULL".utf8)
            continue
        }
        out.append(UInt8(ascii: "\""))
        value.withUTF8 { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
    out.append(UInt8(ascii: "}"))
    return String(decoding: out, as: UTF8.self)
}

/// `textArray` for non-optional strings.
public func textArray(_ values: some Collection<String>) -> String {
    textArray(values.lazy.map { Optional($0) })
}

/// Rows in the text format of `COPY ... FROM STDIN` (PostgreSQL's "Text Format": columns
/// separated by a tab, rows ended by a newline, `\N` for NULL, and backslash, tab, newline
/// and carriage return escaped with a backslash), for `PostgresConnection.copyIn`. Bulk
/// loads into empty tables go this way: no array literal to parse, no conflict checks.
public struct CopyTextRows: Sendable {
    /// The rows so far, ready to send.
    public private(set) var bytes: [UInt8] = []
    /// How many rows were appended.
    public private(set) var count = 0

    public init() {}

    /// Appends one row; the number of fields must match the COPY's column list.
    public mutating func append(_ fields: [String?]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: "\t")) }
            guard var field else {
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                continue
            }
            // The runs that need no escape are copied whole.
            field.withUTF8 { text in
                var run = 0
                for (at, byte) in text.enumerated()
                where byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                    || byte == UInt8(ascii: "\r")
                {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[run..<at]))
                    run = at + 1
                    switch byte {
                    case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                    case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                    case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                    default: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                    }
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[run...]))
            }
        }
        bytes.append(UInt8(ascii: "\n"))
        count += 1
    }
}

extension PostgresConnection {
    /// Loads `rows` with `COPY <target> FROM STDIN` (`target`: a table and its column list,
    /// from the code, never from input), in chunks of about a megabyte.
    /// - Returns: the number of rows the server loaded.
    @discardableResult
    public func copy(_ rows: CopyTextRows, into target: String) async throws -> Int {
        guard rows.count > 0 else { return 0 }
        let bytes = rows.bytes
        var offset = 0
        return try await copyIn("COPY \(target) FROM STDIN") {
            guard offset < bytes.count else { return nil }
            let end = min(offset + (1 << 20), bytes.count)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }
}
