import Foundation

/// CSV (RFC 4180): the one writer of fields, and the one byte-order mark.
public enum CSV {
    /// The UTF-8 byte-order mark some spreadsheets need to read a file as UTF-8 (`--bom`,
    /// `?bom=true`).
    public static let byteOrderMark = "\u{FEFF}"

    /// `document`, with the byte-order mark first when asked for.
    public static func document(_ document: String, byteOrderMark: Bool) -> String {
        byteOrderMark ? Self.byteOrderMark + document : document
    }

    /// The field as written: a number (an optional `-`, digits, an optional decimal part)
    /// bare, so that spreadsheets read it as one; every other text quoted, with quotes
    /// doubled. Text a spreadsheet could run as a formula is neutralised with a `'` (OWASP's
    /// advice) wherever a cell could begin: at the start, and after every `,`, `;`, tab or
    /// line break, leading spaces skipped. Excel in Russian and Kazakh locales splits on `;`,
    /// so `Aral women;=cmd|' /C calc'!A0` must not reach it as a second cell that begins `=`.
    public static func field(_ text: String) -> String {
        if isNumber(text) { return text }
        var out = "\""
        var cellStart = true
        for character in text {
            if cellStart, character == " " {
                out.append(character)
                continue
            }
            if cellStart, Self.formulaStarts.contains(character) { out.append("'") }
            cellStart = Self.cellBreaks.contains(character)
            if character == "\"" { out.append("\"") }
            out.append(character)
        }
        return out + "\""
    }

    /// What a spreadsheet may run as a formula at the start of a cell.
    static let formulaStarts: Set<Character> = ["=", "+", "-", "@", "\t", "\r", "\r\n"]
    /// What may end a cell for some reader (a CRLF is one Character in Swift).
    static let cellBreaks: Set<Character> = [",", ";", "\t", "\r", "\n", "\r\n"]

    /// True for `-?[0-9]+(\.[0-9]+)?`.
    static func isNumber(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }
}
