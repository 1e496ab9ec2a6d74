import EventStore
import Foundation
import GrantDomain
import Hummingbird
import Testing

@testable import GrantLedgerHTTP
@testable import TestSupport

/// Every parser that takes text from outside, fed random Unicode: combining marks, NUL,
/// astral characters, non-ASCII digits, very long strings and mutations of valid values.
/// None may trap; whatever each accepts must be well-formed.
@Suite("Parsers never trap")
struct ParserPropertyTests {
    /// The suites' seedable generator (SplitMix64): a failing case replays from its seed.
    typealias Generator = SeededGenerator

    static let pieces: [String] = [
        "0", "1", "9", "12", ".", "-", ":", "T", "Z", "z", "+", " ", "e", "E", "KZ", "KZ-43", "glt_", "=", "&", "%",
        "%00",
        "\u{0}", "\u{0301}", "\u{0300}", "\u{200D}", "\u{FEFF}", "\u{FFFD}", "😀", "👩‍👩‍👧", "𝟙", "١", "٣", "１", "Ⅻ", "²",
        "ß",
        "ǅ", "İ", "\u{1F1F0}\u{1F1FF}", "Қазақстан", "\"", "\\", "{", "}", "[", "]", ",", "null", "true", "1e5", "-0",
        "0x10",
        "2025", "-06-", "30", "23:59:60", "1969-12-31T23:59:59.5Z", "60000", "1250.50", "950440001673", "a", "A-1",
    ]

    static let seeds: [String] = [
        "60000", "1250.5", "2024-02-29", "2025-06-30T12:00:00.5+05:00", "950440001673", "ORG-001", "KZ-43", "rural",
        "registered", "women", "42", "glt_" + String(repeating: "ab", count: 32), "Zm9v", "100",
    ]

    static func randomText(_ random: inout Generator) -> String {
        switch random.next() % 4 {
        case 0:
            // A valid-looking seed with a few pieces spliced in.
            var text = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + random.next() % 3) {
                let piece = pieces[Int(random.next() % UInt64(pieces.count))]
                let scalars = Array(text.unicodeScalars)
                let at = scalars.isEmpty ? 0 : Int(random.next() % UInt64(scalars.count + 1))
                text =
                    String(String.UnicodeScalarView(scalars[..<at])) + piece
                    + String(String.UnicodeScalarView(scalars[at...]))
            }
            return text
        case 1:
            // Very long.
            let piece = pieces[Int(random.next() % UInt64(pieces.count))]
            return String(repeating: piece, count: 1_000 + Int(random.next() % 20_000))
        case 2:
            // Random scalars from the whole range, surrogates excluded.
            var scalars = String.UnicodeScalarView()
            for _ in 0..<(random.next() % 40) {
                let value = UInt32(random.next() % 0x11_0000)
                if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
            }
            return String(scalars)
        default:
            return (0..<(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
        }
    }

    static func isASCII(_ text: String) -> Bool { text.utf8.allSatisfy { $0 < 128 } }

    @Test(
        "money, dates, timestamps, cut-offs, identifiers, command ids, enumerations, BIN, regions, cursors, limits",
        arguments: 1...8)
    func values(seed: Int) {
        var random = Generator(state: UInt64(seed) &* 0x2545_F491_4F6C_DD1D)
        for _ in 0..<1_500 {
            let text = Self.randomText(&random)
            if let money = Money(text) {
                #expect(
                    Self.isASCII(text) && money.cents >= 0 && Money(money.description) == money,
                    "\(text.debugDescription)")
            }
            if let date = BusinessDate(text) {
                #expect(date.description == text, "\(text.debugDescription)")
            }
            switch CutOff.parse(text) {
            case .position(let position)?:
                #expect(position >= 0 && Self.isASCII(text), "\(text.debugDescription)")
            case .time(let time)?:
                #expect(time.rfc3339.utf8.count == 27 && Self.isASCII(time.rfc3339), "\(text.debugDescription)")
                #expect(Self.isASCII(text), "\(text.debugDescription)")
            case .head?, nil:
                break
            }
            if Identifier.isValid(text) { #expect(Self.isASCII(text) && (1...64).contains(text.utf8.count)) }
            if CommandID.isValid(text) {
                #expect(!text.unicodeScalars.contains("\u{0}") && (1...128).contains(text.unicodeScalars.count))
            }
            if FilterText.isValid(text) { #expect(text.unicodeScalars.count <= FilterText.maxLength) }
            if BIN.isValid(text) { #expect(text.utf8.count == 12 && Self.isASCII(text)) }
            if Region.isValid(text) { #expect(Region.codes.contains(text)) }
            if let gender = LeadershipGender(rawValue: text) { #expect(gender.rawValue == text) }
            if let settlement = Settlement(rawValue: text) { #expect(settlement.rawValue == text) }
            if let limit = parseLimit(text) { #expect((1...ServerLimits.maxPageSize).contains(limit)) }
            _ = cursorAfter(text)
            if TokenCache.isWellFormed(text) { #expect(text.utf8.count == 68) }
            if let decoded = QueryGuardMiddleware<BasicRequestContext>.percentDecoded(Substring(text)) {
                #expect(decoded.utf8.count <= text.utf8.count)
            }
            // The whole query-string check: accepted text decodes to short, NUL-free values.
            if (try? QueryGuardMiddleware<BasicRequestContext>.check("q=" + text)) != nil {
                let decoded = QueryGuardMiddleware<BasicRequestContext>.percentDecoded(
                    Substring(text.split(separator: "&").first ?? ""))
                #expect(decoded.map { !$0.unicodeScalars.contains("\u{0}") } ?? true, "\(text.debugDescription)")
            }
        }
    }

    @Test("commands with random strings in every field parse or are refused as invalid", arguments: 1...4)
    func commands(seed: Int) throws {
        var random = Generator(state: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15)
        let template: [String: String] = [
            "command": "registerOrganisation", "commandId": "c-1", "organisationId": "ORG-1", "name": "Aral",
            "country": "KZ", "regionCode": "KZ-43", "settlement": "rural", "registrationStatus": "registered",
            "bin": "950440001673", "leadershipGender": "women", "kind": "cso", "annualBudgetEur": "1250.50",
        ]
        for _ in 0..<1_500 {
            var fields: [String: Any] = template
            let key = template.keys.sorted()[Int(random.next() % UInt64(template.count))]
            fields[key] = Self.randomText(&random)
            if random.next() % 5 == 0 { fields[Self.randomText(&random)] = Self.randomText(&random) }
            let data = try JSONSerialization.data(withJSONObject: fields)
            do {
                let request = try CommandRequest.parse(String(decoding: data, as: UTF8.self))
                #expect(request.commandId.map(CommandID.isValid) ?? true)
                guard case .registerOrganisation(let organisation) = request.command else {
                    Issue.record("parsed as another command")
                    continue
                }
                #expect(Identifier.isValid(organisation.organisationId))
                #expect(!organisation.name.unicodeScalars.contains("\u{0}"))
                #expect(organisation.name.unicodeScalars.count <= 300)
            } catch {
                #expect(error.code == .invalid)
            }
        }
    }
}
