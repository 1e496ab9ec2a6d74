import EventStore
import Foundation
import Testing

@testable import GrantDomain
@testable import TestSupport

/// The project's JSON coders on what PostgreSQL stores: every event type, as `jsonb` gives
/// its text back, decodes to what Foundation decodes and encodes to Foundation's bytes, also
/// with hostile texts in its fields.
@Suite("Stored events through the project's JSON coders")
struct StoredEventCodingTests {
    /// `text` decoded as `T` by Foundation, then encoded by it: the reference.
    static func foundationRoundTrip<T: Codable>(like sample: T, _ text: String) throws -> String {
        let value = try JSONDecoder().decode(T.self, from: Data(text.utf8))
        return String(decoding: try ResponseJSON.encoder.encode(value), as: UTF8.self)
    }

    /// The event's data type, opened from the decoded event.
    static func reference(_ event: DomainEvent, storedReadable text: String) throws -> String {
        guard let codable = event.data as? any Codable else { throw TestSetupError(message: "not Codable") }
        return try foundationRoundTrip(like: codable, text)
    }

    /// Checks one stored event; returns whether it decoded at all.
    @discardableResult
    static func check(_ stored: RecordedEvent) throws -> Bool {
        let readable = PersonalData.readable(type: stored.type, data: stored.data)
        guard let event = try? DomainEvent.decode(type: stored.type, data: stored.data) else { return false }
        let expected = try reference(event, storedReadable: readable)
        #expect(event.dataJSON == expected, "\(stored.type) at \(stored.position)")
        // The stored text, as JSON, is what the event encodes to.
        #expect(
            JSONParser.parse(event.dataJSON) == (try? JSONDecoder().decode(JSONValue.self, from: Data(readable.utf8))),
            "\(stored.type) at \(stored.position)")
        return true
    }

    @Test("every event type of a recorded programme, and hostile copies of each, read back as Foundation reads them")
    func everyType() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let cli = CLI(databaseURL: db.appURL)
        for command in [
            ["close-grant", "--grant-id", "GR-01", "--closed-on", "2026-11-30", "--command-id", "close-1"],
            [
                "erase-personal-data", "--organisation-id", "INGO-NL-HIVOS", "--erased-on", "2026-12-01", "--reason",
                "asked", "--command-id", "erase-1",
            ],
        ] {
            let result = try await cli.run(command)
            #expect(result.status == 0, "\(command[0]): \(result.stderr)")
        }
        let count = try await db.committedEvents().count
        let stored = try await db.readAll(after: 0, count: count)
        let types = Set(stored.map(\.type))
        #expect(types == DomainEvent.knownTypes, "missing: \(DomainEvent.knownTypes.subtracting(types).sorted())")
        for event in stored { #expect(try Self.check(event), "\(event.type) at \(event.position) does not decode") }

        // Hostile copies: each string field of one event of every type replaced by hostile
        // text where the type still admits it, appended, read back from jsonb and checked.
        var random = JSONCodingHostile(state: 11)
        var copies: [NewEvent] = []
        for type in types.sorted() {
            guard let original = stored.first(where: { $0.type == type }),
                case .object(let fields)? = JSONParser.parse(PersonalData.readable(type: type, data: original.data))
            else { continue }
            for round in 0..<8 {
                var hostile = fields
                // In the keys' order: the seeded choices must not depend on a dictionary's.
                for (key, value) in fields.sorted(by: { $0.key < $1.key }) where random.below(2) == 0 {
                    if case .string = value { hostile[key] = .string(random.text()) }
                }
                let text = try CanonicalJSON.text(JSONValue.object(hostile))
                guard (try? DomainEvent.decode(type: type, data: text)) != nil else { continue }
                copies.append(
                    NewEvent(
                        streamID: "hostile-\(type)-\(round)", type: type, data: text, metadata: #"{"actor": "test"}"#))
            }
        }
        #expect(copies.count > 3 * types.count)
        let last = stored.last?.position ?? 0
        _ = try await db.store.append(copies)
        let readBack = try await db.readAll(after: last, count: copies.count)
        #expect(readBack.count == copies.count)
        for event in readBack { #expect(try Self.check(event), "\(event.type) at \(event.position) does not decode") }
    }
}

/// Hostile texts for the stored copies: controls, NUL, quotes, escapes, astral and
/// combining characters, text that looks like JSON or a formula.
struct JSONCodingHostile {
    var random: SeededGenerator

    init(state: UInt64) { random = SeededGenerator(state: state) }

    static let pieces: [String] = [
        "a", "é", "e\u{301}", "\u{1}", "\u{1F}", "\u{7F}", "\"", "\\", "/", "\\u0000", "\n", "\t", "\u{2028}",
        "\u{FEFF}", "😀", "👩‍👩‍👧", "Қазақстан", "{\"a\":1}", "=HYPERLINK(\"x\")", "<b>", " ",
    ]

    mutating func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }

    mutating func text() -> String {
        (0..<(1 + below(6))).map { _ in Self.pieces[below(Self.pieces.count)] }.joined()
    }
}
