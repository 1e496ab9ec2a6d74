import Testing

@testable import GrantDomain

/// Finding an event's sealed texts in one scan of its data and opening them in place,
/// against a reference that parses the whole object and replaces the values in the tree.
@Suite("Sealed texts located once and opened in place")
struct SealedTextTests {
    typealias Random = Seeded

    /// The data of `type` with random members, some of its personal fields sealed, some in
    /// clear, some of another shape; keys and texts hostile.
    static func data(type: String, _ random: inout Random) -> (text: String, sealed: Int) {
        var fields: [String: JSONValue] = [:]
        for _ in 0..<random.below(5) {
            fields[JSONCodingTests.text(&random)] = JSONCodingTests.value(&random, depth: 2)
        }
        var sealed = 0
        for field in PersonalData.fields[type] ?? [] {
            switch random.below(7) {
            case 0: continue
            case 1: fields[field] = .string(JSONCodingTests.text(&random))
            case 2: fields[field] = .object(["encrypted": .string("x"), "key": .integer(7)])
            // Near misses: a third member, a missing one.
            case 3: fields[field] = .object(["encrypted": .string("x"), "key": .string("k"), "iv": .string("y")])
            case 4: fields[field] = .object(["encrypted": .string("x")])
            default:
                let box = PersonalData.Sealed(
                    key: "k-" + JSONCodingTests.text(&random), box: JSONCodingTests.text(&random))
                fields[field] = .object(["encrypted": .string(box.box), "key": .string(box.key)])
                sealed += 1
            }
        }
        return ((try? CanonicalJSON.text(JSONValue.object(fields))) ?? "{}", sealed)
    }

    /// What opening reads for a box: a text naming its field and key.
    static func reading(_ field: String, _ sealed: PersonalData.Sealed) -> String {
        "opened " + field + " " + sealed.key + " \u{0}\"\\"
    }

    /// The reference: the parsed object with every sealed personal value replaced.
    static func reference(type: String, text: String) -> JSONValue? {
        guard case .object(var fields)? = JSONParser.parse(text) else { return JSONParser.parse(text) }
        for field in PersonalData.fields[type] ?? [] {
            guard case .object(let box)? = fields[field], box.count == 2, case .string(let key)? = box["key"],
                case .string(let encrypted)? = box["encrypted"]
            else { continue }
            fields[field] = .string(reading(field, PersonalData.Sealed(key: key, box: encrypted)))
        }
        return .object(fields)
    }

    /// 600 events' data for a seed: the types with personal fields in turn and one without.
    static func cases(seed: UInt64) -> [(type: String, text: String, sealed: Int)] {
        var random = Random(state: seed)
        let types = PersonalData.fields.keys.sorted() + ["GrantAwarded"]
        return (0..<600).map { round in
            let type = types[round % types.count]
            let (text, sealed) = data(type: type, &random)
            return (type, text, sealed)
        }
    }

    @Test("every sealed text is found once, and opening replaces exactly those values", arguments: 1...4)
    func locateAndOpen(seed: UInt64) throws {
        var opened = 0
        for (type, text, sealed) in Self.cases(seed: seed) {
            let located = PersonalData.locate(type: type, data: text)
            #expect((located?.texts.count ?? 0) == sealed, "\(type): \(text.debugDescription)")
            #expect(PersonalData.sealed(type: type, data: text).map(\.key) == (located?.texts.map(\.sealed.key) ?? []))
            let result = PersonalData.opened(type: type, data: text, Self.reading)
            #expect(JSONParser.parse(result) == Self.reference(type: type, text: text), "\(text.debugDescription)")
            if sealed == 0 { #expect(result == text) } else { opened += 1 }
            if let located { #expect(PersonalData.opened(located, Self.reading) == result) }
        }
        #expect(opened > 100)
    }

    @Test(
        "a parsed event reads its sealed texts as the placeholder, as parsing the rewritten text does", arguments: 1...4
    )
    func readableParsed(seed: UInt64) throws {
        var replaced = 0
        for (type, text, sealed) in Self.cases(seed: seed) {
            let parsed = try #require(JSONParser.parse(text))
            let readable = PersonalData.readable(type: type, value: parsed)
            #expect(
                readable == JSONParser.parse(PersonalData.readable(type: type, data: text)), "\(text.debugDescription)")
            if sealed == 0 { #expect(readable == parsed) } else { replaced += 1 }
        }
        #expect(replaced > 100)
    }
}
