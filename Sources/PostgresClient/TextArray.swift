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
