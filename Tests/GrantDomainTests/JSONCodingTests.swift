import Foundation
import Testing

@testable import GrantDomain

/// The project's own JSON coders against Foundation's, which they replace on the hot paths:
/// the same bytes out, the same values in, on random and hostile input.
@Suite("JSON coders agree with Foundation")
struct JSONCodingTests {
    /// The suite's seedable generator (SplitMix64, `Seeded`): a failing case replays from
    /// its seed.
    typealias Random = Seeded

    static let hostilePieces: [String] = [
        "", "a", "Z", "_", "é", "e\u{301}", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "\"", "\\", "/", "\\u0000", "\n",
        "\r",
        "\t", "\u{8}", "\u{C}", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{FFFD}", "😀", "👩‍👩‍👧", "𝟙", "Қазақстан", "١٢",
        "ﬀ", "Ａ", "{", "}", "[", "]", ",", ":", "null", "1e5", "-0", "<script>", "=HYPERLINK(\"x\")",
    ]

    static func text(_ random: inout Random) -> String {
        if random.below(8) == 0 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<random.below(30) {
                if let scalar = Unicode.Scalar(UInt32(random.below(0x11_0000))) { scalars.append(scalar) }
            }
            return String(scalars)
        }
        return (0..<random.below(5)).map { _ in hostilePieces[random.below(hostilePieces.count)] }.joined()
    }

    static func value(_ random: inout Random, depth: Int = 0) -> JSONValue {
        switch random.below(depth > 4 ? 6 : 8) {
        case 0: return .null
        case 1: return .bool(random.below(2) == 0)
        case 2:
            let extremes: [Int64] = [0, -1, 1, .max, .min, 9_007_199_254_740_993]
            return .integer(
                random.below(3) == 0
                    ? extremes[random.below(extremes.count)] : Int64(bitPattern: random.next()) >> random.below(64))
        case 3:
            let doubles: [Double] = [0.1, -0.5, 1e300, 1e-7, 3.14, 123_456_789.123, 2.5e-300, 0.30000000000000004]
            return .number(doubles[random.below(doubles.count)] * Double(1 + random.below(1000)))
        case 4, 5: return .string(text(&random))
        case 6: return .array((0..<random.below(5)).map { _ in value(&random, depth: depth + 1) })
        default:
            var fields: [String: JSONValue] = [:]
            for _ in 0..<random.below(6) { fields[text(&random)] = value(&random, depth: depth + 1) }
            return .object(fields)
        }
    }

    /// What `JSONValue.parse` was: Foundation's decoder.
    static func foundationParse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Equal, numbers compared as `Double`s: where Foundation rounded a number through
    /// `Double` and the parser reads it exactly, both stand for the same `Double`.
    static func same(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        func double(_ value: JSONValue) -> Double? {
            switch value {
            case .integer(let integer): return Double(integer)
            case .number(let number): return number
            default: return nil
            }
        }
        switch (a, b) {
        case (nil, nil): return true
        case (.array(let x)?, .array(let y)?): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x)?, .object(let y)?):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        case (let x?, let y?):
            if let dx = double(x), let dy = double(y) { return dx == dy }
            return x == y
        default: return false
        }
    }

    /// Foundation guessed UTF-16 or UTF-32 from zero bytes at the start; a Swift string is
    /// UTF-8, so those texts are left out of the comparison.
    static func comparable(_ text: String) -> Bool { !text.utf8.prefix(4).contains(0) }

    static func foundationText(_ value: some Encodable) throws -> String {
        String(decoding: try ResponseJSON.encoder.encode(value), as: UTF8.self)
    }

    @Test(
        "random values with hostile keys and texts encode to Foundation's bytes, and parse back to themselves",
        arguments: 1...6)
    func encodeAndParse(seed: UInt64) throws {
        var random = Random(state: seed)
        for _ in 0..<400 {
            let value = Self.value(&random)
            let expected = try Self.foundationText(value)
            let text = try CanonicalJSON.text(value)
            #expect(text == expected)
            #expect(JSONParser.parse(text) == Self.foundationParse(text), "\(text.debugDescription)")
            #expect(JSONParser.parse(text) != nil)
        }
    }

    /// Texts near valid JSON: spaces between tokens, and cuts, insertions and swaps.
    static func mutated(_ text: String, _ random: inout Random) -> String {
        var scalars = Array(text.unicodeScalars)
        let pieces: [String] = [
            " ", "\n", "\t", "\u{A0}", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\x", "0",
            "-",
            ".", "e", "E+", "01", "1.", ".5", "1e400", "1e-400", "5.0", "true", "nul", "{", "}", "[", "]", "\u{0}",
            "\u{1}",
            "\u{FEFF}", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        ]
        for _ in 0...random.below(3) {
            let at = random.below(scalars.count + 1)
            switch random.below(3) {
            case 0 where !scalars.isEmpty: scalars.remove(at: min(at, scalars.count - 1))
            default: scalars.insert(contentsOf: pieces[random.below(pieces.count)].unicodeScalars, at: at)
            }
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    @Test(
        "mutated and malformed texts: the parser accepts exactly what Foundation accepted, with the same value",
        arguments: 1...6)
    func malformed(seed: UInt64) throws {
        var random = Random(state: seed &* 7919)
        for _ in 0..<1_500 {
            let text = Self.mutated(try CanonicalJSON.text(Self.value(&random)), &random)
            guard Self.comparable(text) else { continue }
            #expect(Self.same(JSONParser.parse(text), Self.foundationParse(text)), "\(text.debugDescription)")
        }
    }

    /// A value that sets keys more than once, through every way a keyed container has.
    struct Overwrites: Encodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let keys: [String]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            var seen = Set<String>()
            for (offset, key) in keys.enumerated() {
                switch offset % 4 {
                case 0: try container.encode(offset, forKey: Key(stringValue: key))
                case 1: try container.encode("v\(offset)", forKey: Key(stringValue: key))
                // Foundation traps on a nested container over a key already set.
                case 2 where !seen.contains(key):
                    var nested = container.nestedContainer(keyedBy: Key.self, forKey: Key(stringValue: key))
                    try nested.encode(offset, forKey: Key(stringValue: key))
                default: try container.encodeNil(forKey: Key(stringValue: key))
                }
                seen.insert(key)
            }
            // A second container of the same encoder adds to the same object.
            var again = encoder.container(keyedBy: Key.self)
            if let first = keys.first { try again.encode(true, forKey: Key(stringValue: first)) }
        }
    }

    @Test("keys set more than once, in any order: the last value stands, as with Foundation", arguments: 1...4)
    func overwrittenKeys(seed: UInt64) throws {
        var random = Random(state: seed)
        let pool = ["a", "b", "é", "e\u{301}", "", "A", "ab", "a\u{0}", "\u{10FFFF}", "z"]
        for _ in 0..<300 {
            // Up to 90 settings of up to 50 keys: past 32 keys the box finds them by hashing.
            let many = random.below(2) == 0
            let keys = (0..<random.below(many ? 90 : 12)).map { _ in
                many && random.below(3) > 0 ? "k\(random.below(40))" : pool[random.below(pool.count)]
            }
            let value = Overwrites(keys: keys)
            #expect(try CanonicalJSON.text(value) == (try Self.foundationText(value)), "\(keys)")
        }
    }

    @Test("edge cases: numbers, escapes, duplicate keys, whitespace, depth")
    func edges() {
        let cases = [
            "5.0", "5e2", "-0", "-0.0", "1e-400", "1E400", "-1e400", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "0.1", "1.5e3", "1.25", "01", "1.", ".1", "+1", "-", "--1",
            "1e", "1e+", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\u00e9\\u0000\"",
            "\"\\/\"", "\"\\a\"", "\"\u{1}\"", "\"\u{7F}\"", "{\"a\":1,\"a\":2}", "{\"a\":1,}", "[1,]", "[,1]", "[1 2]",
            " [1] ", "\n{}\t", "[1] x", "", " ", "tru", "true", "nulll", "null", "{\"a\" 1}", "{1:2}", "[\"\u{0}\"]",
            "\u{FEFF}[1]", "{\"é\":1,\"e\u{301}\":2}", "[\"\\u0041\\u00df\\u6771\\ud801\\udc37\"]",
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
            String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000),
            String(repeating: "{\"a\":", count: 3_000) + "1" + String(repeating: "}", count: 3_000),
        ]
        for text in cases {
            #expect(
                Self.same(JSONParser.parse(text), Self.foundationParse(text)), "\(text.prefix(40).debugDescription)")
        }
        // Numbers by their exact value.
        let exact: [(String, JSONValue?)] = [
            ("5", .integer(5)), ("5.0", .integer(5)), ("5e2", .integer(500)), ("1.5e1", .integer(15)),
            ("1500e-2", .integer(15)), ("-0.0", .integer(0)), ("15e-1", .number(1.5)),
            ("9007199254740993.0", .integer(9_007_199_254_740_993)),
            ("9007199254740993e0", .integer(9_007_199_254_740_993)),
            ("-9223372036854775808.0", .integer(.min)), ("9223372036854775807e0", .integer(.max)),
            ("9223372036854775808", .number(9_223_372_036_854_775_808)), ("1.0000000000000000001", .number(1)),
            ("125232568270182601.85", .number(125_232_568_270_182_601.85)), ("1e-400", .number(0)), ("1e400", nil),
            ("0e999999999999", .integer(0)), ("1e999999999999", nil), ("\u{FEFF}7", .integer(7)), ("\u{0}1", nil),
        ]
        for (text, value) in exact {
            #expect(JSONParser.parse(text) == value, "\(text.debugDescription)")
        }
    }

    /// A payload through both coders: the same bytes out, the same value in.
    /// A line of commands parsed: its fields, its command's name and payload type; nil (and
    /// an issue recorded) when it is not one.
    /// An object whose members come in any order, some keys more than once, some values
    /// objects of the same kind: written by `CanonicalWriter` and by `Encodable`.
    struct Shuffled: CanonicalObject {
        static let keys: [StaticString] = ["a", "b", "ab", "A", "z", "é", "", "a\u{0}", "k10", "k9"]
        var members: [(key: Int, value: Int, nested: Shuffled?)]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for member in members {
                let key = Key(stringValue: Self.keys[member.key].description)
                if let nested = member.nested {
                    try container.encode(nested, forKey: key)
                } else {
                    try container.encode(member.value, forKey: key)
                }
            }
        }

        func writeMembers(to writer: inout CanonicalWriter) throws {
            for member in members {
                if let nested = member.nested {
                    try writer.member(Self.keys[member.key], nested)
                } else {
                    try writer.member(Self.keys[member.key], member.value)
                }
            }
        }

        static func random(_ random: inout Random, depth: Int = 0) -> Shuffled {
            Shuffled(
                members: (0..<random.below(8)).map { offset in
                    (
                        random.below(keys.count), offset,
                        depth < 3 && random.below(3) == 0 ? Self.random(&random, depth: depth + 1) : nil
                    )
                })
        }
    }

    @Test(
        "the direct writer sorts members that come in any order, keeps a repeated key's last value, as Foundation does",
        arguments: 1...4)
    func writerOrder(seed: UInt64) throws {
        var random = Random(state: seed)
        for _ in 0..<500 {
            let value = Shuffled.random(&random)
            let (written, foundation) = (try CanonicalJSON.text(value), try Self.foundationText(value))
            #expect(written == foundation)
            // And as one member of the tree encoder's objects.
            #expect(try CanonicalJSON.text(["x": value]) == (try Self.foundationText(["x": value])))
        }
    }

    @Test(
        "the drill-down's rows, with hostile names and ids, write what their Encodable conformance and Foundation write",
        arguments: 1...4)
    func drillDownRows(seed: UInt64) throws {
        var random = Random(state: seed)
        let dates = ["2024-01-01", "2024-02-29", "2025-12-31", "1999-07-15"].compactMap(BusinessDate.init)
        let channelSets: [[AccessChannel]] = [[.consortium], [.subGrant], [.consortium, .subGrant]]
        var rows: [I3OrganisationRow] = []
        for _ in 0..<300 {
            let channel = AccessChannel.allCases[random.below(AccessChannel.allCases.count)]
            let first = I3FirstAccess(
                channel: channel, businessDate: dates[random.below(dates.count)],
                position: random.below(3) == 0 ? .max : Int64(random.below(2_000_000)),
                callId: Self.text(&random), grantId: Self.text(&random),
                subGrantId: random.below(2) == 0 ? nil : Self.text(&random))
            let place = I3Place(
                regionCode: Self.text(&random),
                leadershipGender: LeadershipGender.allCases[random.below(LeadershipGender.allCases.count)],
                settlement: Settlement.allCases[random.below(Settlement.allCases.count)],
                registrationStatus: RegistrationStatus.allCases[random.below(RegistrationStatus.allCases.count)])
            let row = I3OrganisationRow(
                organisationId: Self.text(&random), name: Self.text(&random), place: place,
                channels: channelSets[random.below(channelSets.count)], firstAccess: first)
            // The writer is the path taken, and it writes what `Encodable` and Foundation write.
            #expect(row is any CanonicalObject)
            #expect(try CanonicalJSON.bytes(row) == CanonicalJSON.treeBytes(row))
            #expect(try CanonicalJSON.text(row) == (try Self.foundationText(row)))
            rows.append(row)
        }
        // A list of them, as the drill-down writes a batch.
        #expect(try CanonicalJSON.bytes(rows) == CanonicalJSON.treeBytes(rows))
        #expect(try CanonicalJSON.text(rows) == (try Self.foundationText(rows)))
    }

    /// The lines of the sample programme (deploy/sample/programme.jsonl).
    static func sampleLines() throws -> [String] {
        let file = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent("deploy/sample/programme.jsonl")
        return try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func command(_ line: String) -> (
        fields: [String: JSONValue], name: String, payload: any CommandPayload.Type
    )? {
        guard case .object(let fields)? = JSONParser.parse(line), case .string(let name)? = fields["command"],
            let payload = CommandTable.payload(named: name)
        else {
            Issue.record("not a command: \(line)")
            return nil
        }
        return (fields, name, payload)
    }

    static func agree<T: Codable & Equatable>(_ type: T.Type, _ payload: JSONValue) throws {
        let foundationValue = try JSONDecoder().decode(type, from: try ResponseJSON.encoder.encode(payload))
        let value = try JSONValueDecoder.decode(type, from: payload)
        #expect(value == foundationValue)
        #expect(try CanonicalJSON.text(value) == (try foundationText(foundationValue)))
        // The generated writer is the path taken, and it writes what `Encodable` writes.
        #expect(value is any CanonicalObject)
        #expect(try CanonicalJSON.bytes(value) == CanonicalJSON.treeBytes(value))
    }

    @Test(
        "every command of the sample programme, with hostile texts in its text fields, decodes and encodes as with Foundation"
    )
    func commands() throws {
        let lines = try Self.sampleLines()
        #expect(lines.count > 100)
        var random = Random(state: 42)
        var checked = 0
        for line in lines {
            guard var (fields, _, payload) = Self.command(line) else { continue }
            fields["command"] = nil
            fields["commandId"] = nil
            for round in 0..<4 {
                var hostile = fields
                if round > 0 {
                    for (key, value) in fields {
                        if case .string = value, random.below(2) == 0 { hostile[key] = .string(Self.text(&random)) }
                    }
                }
                // Only what the typed payload admits: the hostile text may make it refuse.
                guard
                    (try? JSONDecoder().decode(
                        payload, from: try ResponseJSON.encoder.encode(JSONValue.object(hostile)))) != nil
                else { continue }
                try Self.agree(payload, .object(hostile))
                checked += 1
            }
        }
        #expect(checked > lines.count)
    }

    @Test("every type error Foundation raises for a payload, this decoder raises too")
    func mismatches() throws {
        let base: [String: JSONValue] = ["grantId": "G-1", "paidOn": "2025-01-31", "amount": "100.00"]
        var random = Random(state: 3)
        var decoded = 0
        for round in 0..<600 {
            var fields = base
            let key = ["grantId", "paidOn", "amount", "extra"][random.below(4)]
            if round % 3 > 0 { fields[key] = Self.value(&random) }
            if random.below(6) == 0 { fields[["grantId", "amount", "paidOn"][random.below(3)]] = nil }
            let viaFoundation = try? JSONDecoder().decode(
                DisburseGrant.self, from: try ResponseJSON.encoder.encode(JSONValue.object(fields)))
            let viaTree = try? JSONValueDecoder.decode(DisburseGrant.self, from: .object(fields))
            #expect(viaTree == viaFoundation, "\(fields)")
            if viaTree != nil { decoded += 1 }
        }
        #expect(decoded > 100 && decoded < 600)
    }

    /// One decoding's outcome, comparable: the value, or the error as a quarantine names it.
    enum Outcome: Equatable {
        case value(AnyHashable)
        case error(String)

        init(_ body: () throws -> AnyHashable) {
            do { self = .value(try body()) } catch { self = .error(DomainEvent.reason(error)) }
        }
    }

    /// The generated decoder and `Decodable` through `JSONValueDecoder` on the same fields.
    static func outcomes<T: JSONObjectDecodable & Hashable>(_ type: T.Type, _ fields: [String: JSONValue])
        -> (generated: Outcome, decodable: Outcome)
    {
        (
            Outcome { try T(fields: fields) },
            Outcome { try JSONValueDecoder.decode(T.self, from: .object(fields)) }
        )
    }

    static func payloadOutcomes(_ type: any CommandPayload.Type, _ fields: [String: JSONValue])
        -> (generated: Outcome, decodable: Outcome)
    {
        outcomes(type, fields)
    }

    /// `fields` with one to three of `names` (and a key no type has) changed: a random value,
    /// `null`, hostile text, or removed.
    static func mutated(_ fields: [String: JSONValue], names: [String], _ random: inout Random) -> [String: JSONValue] {
        var changed = fields
        for _ in 0..<(1 + random.below(3)) {
            let key = (names + ["extra"])[random.below(names.count + 1)]
            switch random.below(4) {
            case 0: changed[key] = nil
            case 1: changed[key] = .null
            case 2: changed[key] = .string(text(&random))
            default: changed[key] = value(&random)
            }
        }
        return changed
    }

    @Test(
        "the generated decoders read every payload and event data as Decodable does, with the same errors",
        arguments: 1...4)
    func generatedDecoders(seed: UInt64) throws {
        // The sample programme, and the two commands it does not send.
        let lines =
            try Self.sampleLines() + [
                #"{"command": "closeGrant", "grantId": "GR-01", "closedOn": "2026-11-30"}"#,
                #"{"command": "erasePersonalData", "organisationId": "O-1", "erasedOn": "2026-12-01", "reason": "asked"}"#,
            ]
        var random = Random(state: seed &* 7_919)
        var seen: Set<String> = []
        var agreed = (values: 0, errors: 0)
        func check(_ pair: (generated: Outcome, decodable: Outcome), _ what: String) {
            #expect(pair.generated == pair.decodable, "\(what)")
            if case .value = pair.generated { agreed.values += 1 } else { agreed.errors += 1 }
        }
        for line in lines {
            guard let (fields, name, payload) = Self.command(line) else { continue }
            seen.insert(name)
            let names = payload.spec.fields.map(\.name)
            check(Self.payloadOutcomes(payload, fields), "\(name) as sent")
            for _ in 0..<12 {
                let changed = Self.mutated(fields, names: names, &random)
                check(Self.payloadOutcomes(payload, changed), "\(name): \(changed)")
            }
            // The data types that add derived fields to a payload, read as stored.
            if name == "awardGrant" {
                var data = fields
                data["callId"] = "CALL-1"
                data["consortiumId"] = "CONS-1"
                data["members"] = .array([
                    .object(["organisationId": "O-1", "role": "lead"]),
                    .object(["organisationId": "O-2", "role": "coApplicant"]),
                ])
                check(Self.outcomes(GrantAwarded.self, data), "GrantAwarded")
                for _ in 0..<12 {
                    let changed = Self.mutated(data, names: names + ["callId", "consortiumId", "members"], &random)
                    check(Self.outcomes(GrantAwarded.self, changed), "GrantAwarded: \(changed)")
                }
            }
            if name == "awardSubGrant" {
                var data = fields
                data["callId"] = "CALL-1"
                check(Self.outcomes(SubGrantAwarded.self, data), "SubGrantAwarded")
                for _ in 0..<12 {
                    let changed = Self.mutated(data, names: names + ["callId"], &random)
                    check(Self.outcomes(SubGrantAwarded.self, changed), "SubGrantAwarded: \(changed)")
                }
            }
        }
        #expect(seen == Set(CommandTable.specs.map(\.name)))
        // Both sides of the comparison were exercised: values read, and errors raised.
        #expect(agreed.values > lines.count && agreed.errors > lines.count)
    }

    @Test("a map with several wrong entries is refused for the same entry, whatever its dictionary's layout")
    func mapErrorsInKeyOrder() throws {
        let keys = ["=HYPERLINK(\"x\")\t", "é", "gender", "a", "Z", "\u{1F600}", "location"]
        var reasons: Set<String> = []
        for capacity in [0, 3, 8, 17, 64, 300, 1_000] {
            for order in [keys, keys.reversed(), keys.shuffled()] {
                var shares = [String: JSONValue](minimumCapacity: capacity)
                for key in order { shares[key] = key == "a" || key == "Z" ? .bool(false) : .object(["x": "0.5"]) }
                do {
                    _ = try JSONValueDecoder.decode(MinimumShares.self, from: .object(shares))
                    Issue.record("wrong shares were decoded")
                } catch let error as DecodingError {
                    reasons.insert("\(error)")
                }
            }
        }
        // "Z" comes before "a" in code-unit order.
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("Path: Z.") == true, "\(reasons)")
    }

    /// A stored event's outcome through the parsed tree (`JSONParser.parse`), the form the
    /// members (`JSONParser.parseObject`) replace in `DomainEvent.decode(type:data:)`.
    static func treeOutcome(type: String, data: String) -> Outcome {
        Outcome {
            guard let value = JSONParser.parse(data) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: [], debugDescription: "\(type): the data is not one JSON value"))
            }
            return try DomainEvent.decode(type: type, readable: .value(PersonalData.readable(type: type, value: value)))
        }
    }

    @Test(
        "stored data read through its members decodes to the same event, or fails with the same reason, as through a parsed tree",
        arguments: 1...4)
    func membersAsTree(seed: UInt64) throws {
        let lines = try Self.sampleLines()
        var random = Random(state: seed &* 104_729)
        var agreed = (values: 0, errors: 0, sealed: 0)
        func check(_ type: String, _ data: String) {
            let members = Outcome { try DomainEvent.decode(type: type, data: data) }
            #expect(members == Self.treeOutcome(type: type, data: data), "\(type): \(data.debugDescription)")
            // The parse itself: the same value, and refused exactly when the tree is.
            #expect(JSONParser.parseObject(data)?.value == JSONParser.parse(data))
            // Read from bytes as a result row holds them: the same event, or the same reason.
            #expect(
                Self.sameOutcome(
                    Self.decodedFromBytes(position: 9, type: type, data: data),
                    DomainEvent.decodeOrQuarantine(position: 9, type: type, data: data)),
                "from bytes, \(type): \(data.debugDescription)")
            if case .value = members { agreed.values += 1 } else { agreed.errors += 1 }
        }
        let sealed: JSONValue = .object(["encrypted": "AAAA", "key": "9b2f"])
        var manyChecked: Set<String> = []
        for line in lines {
            guard var (fields, name, payload) = Self.command(line) else { continue }
            fields["command"] = nil
            fields["commandId"] = nil
            let type = payload.spec.event
            if type == "GrantAwarded" {
                fields["callId"] = "CALL-1"
                fields["consortiumId"] = "CONS-1"
                fields["members"] = .array([.object(["organisationId": "O-1", "role": "lead"])])
            }
            if type == "SubGrantAwarded" { fields["callId"] = "CALL-1" }
            let names = Array(fields.keys) + (PersonalData.fields[type] ?? [])
            let text = try CanonicalJSON.text(JSONValue.object(fields))
            check(type, text)
            for _ in 0..<4 {
                let changed = Self.mutated(fields, names: names, &random)
                check(type, try CanonicalJSON.text(JSONValue.object(changed)))
                // Texts near valid JSON.
                check(type, Self.mutated(text, &random))
                // A key given twice: the first value counts, whichever one reads.
                let key = names[random.below(names.count)]
                let repeated = "{\(try CanonicalJSON.text(key)):\(try CanonicalJSON.text(Self.value(&random))),"
                check(type, repeated + text.dropFirst())
                check(type, String(text.dropLast()) + ",\(try CanonicalJSON.text(key)):null}")
            }
            // Personal texts sealed, sealed with more or repeated members, and as placeholders.
            for field in PersonalData.fields[type] ?? [] {
                for variant in [
                    sealed, .object(["encrypted": "AAAA", "key": "9b2f", "x": .integer(1)]),
                    .object(["encrypted": "AAAA"]),
                    .object(["encrypted": .integer(1), "key": "9b2f"]),
                ] {
                    var data = fields
                    data[field] = variant
                    check(type, try CanonicalJSON.text(JSONValue.object(data)))
                }
                let twice = String(try CanonicalJSON.text(JSONValue.object(fields)).dropLast())
                check(type, twice + #","\#(field)":{"encrypted":"AAAA","key":"9b2f"}}"#)
                check(type, #"{"\#(field)":{"encrypted":"AAAA","key":"9b2f","key":"k"},"# + text.dropFirst())
                agreed.sealed += 1
            }
            // Escaped keys, data that is not an object, and (for one command of each type)
            // many members.
            if manyChecked.insert(type).inserted {
                var many = fields
                for index in 0..<300 { many["extra\(index)"] = .integer(Int64(index)) }
                check(type, try CanonicalJSON.text(JSONValue.object(many)))
            }
            check(type, text.replacingOccurrences(of: #""a"#, with: #""\u0061"#))
            for other in [
                "[]", "1", "\"x\"", "null", "[\(text)]", " \(text) ", "\u{FEFF}\(text)", "\(text)\(text)", "",
            ] {
                check(type, other)
            }
        }
        // Both outcomes were exercised, and sealed texts met.
        #expect(agreed.values > lines.count && agreed.errors > lines.count && agreed.sealed > 10)
    }

    /// `decodeOrQuarantine` of `type` and `data` as the bytes of a result row.
    static func decodedFromBytes(position: Int64, type: String, data: String) -> DecodedEvent {
        Array(type.utf8).withUnsafeBytes { type in
            Array(data.utf8).withUnsafeBytes {
                DomainEvent.decodeOrQuarantine(position: position, type: type, data: $0)
            }
        }
    }

    /// Whether two readings of a stored event gave the same event, or passed it over, or
    /// quarantined it for the same reason.
    static func sameOutcome(_ a: DecodedEvent, _ b: DecodedEvent) -> Bool {
        switch (a, b) {
        case (.event(let x), .event(let y)): return x == y
        case (.unknown, .unknown): return true
        case (.quarantined(let x), .quarantined(let y)): return x == y
        default: return false
        }
    }

    @Test("a type's name read from bytes is a known type's exactly, and nothing else is")
    func knownTypesFromBytes() throws {
        #expect(DomainEvent.knownTypes.count > 20)
        for name in DomainEvent.knownTypes {
            let found = Array(name.utf8).withUnsafeBytes { DomainEvent.knownType(utf8: $0) }
            #expect(found == name)
            // Near misses: a letter more or less, another case, a NUL, a space, a combining mark.
            for other in [
                String(name.dropLast()), name + "s", "x" + name, name.lowercased(), name + "\u{0}", " " + name,
                name + "\u{301}", String(name.dropFirst()),
            ] where !DomainEvent.knownTypes.contains(other) {
                #expect(Array(other.utf8).withUnsafeBytes { DomainEvent.knownType(utf8: $0) } == nil, "\(other)")
                #expect(Self.sameOutcome(Self.decodedFromBytes(position: 1, type: other, data: "{}"), .unknown))
            }
        }
        for other in ["", "\u{0}", "Noted", String(repeating: "A", count: 100_000)] {
            #expect(Array(other.utf8).withUnsafeBytes { DomainEvent.knownType(utf8: $0) } == nil)
        }
    }
}

extension Seeded {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
