import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

/// Result rows keep every value's bytes in one buffer and parse numbers, UUIDs, `bytea` and
/// recording times from those bytes: each must give what parsing the value's text gave.
@Suite("Result rows parsed from their bytes")
struct ResultRowsTests {
    @Test("integers from bytes: exactly what Int64 and Int make of the same text, hostile texts included")
    func integersAsText() {
        var texts = [
            "", "+", "-", "0", "-0", "+0", "007", "+42", "-42", " 1", "1 ", "1_000", "0x10", "1e3", "٣", "１",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "99999999999999999999", "--1", "+-1", "1-", "\u{0}1", "1\u{0}",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let digits = (0..<Int.random(in: 1...21, using: &generator)).map { _ in
                String(Int.random(in: 0...9, using: &generator))
            }
            texts.append(["", "-", "+"].randomElement(using: &generator)! + digits.joined())
        }
        for text in texts {
            var copy = text
            let (int64, int) = copy.withUTF8 { utf8 in
                (Int64(postgresBytes: UnsafeRawBufferPointer(utf8)), Int(postgresBytes: UnsafeRawBufferPointer(utf8)))
            }
            #expect(int64 == Int64(text), "\(text.debugDescription)")
            #expect(int == Int(text), "\(text.debugDescription)")
        }
    }

    @Test("every column type the log is read with decodes from PostgreSQL's own output as from its text")
    func columnsAsText() async throws {
        let db = try await TestDatabase.make()
        let admin = try await db.admin()
        try await admin.query("SET TIME ZONE 'UTC'")
        let rows = try await admin.query(
            """
            SELECT n::int8, u::uuid, b::bytea, t::timestamptz, s::text
            FROM (VALUES
              ('9223372036854775807', '00000000-0000-0000-0000-000000000000', '\\x', '2026-01-15 09:00:00+00', ''),
              ('-9223372036854775808', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\\x00ff10', '2026-01-15 09:00:00.5+00',
               'Жасыл Ел — ''quoted'' \\ e' || chr(769) || ' 😀'),
              ('0', gen_random_uuid()::text, '\\xdeadbeef', '0001-01-01 00:00:00.123456+00', repeat('ә', 5000)),
              (NULL, NULL, NULL, NULL, NULL)
            ) AS v(n, u, b, t, s)
            """)
        #expect(rows.count == 4)
        for row in rows.dropLast() {
            let (number, uuid, bytes, _, text) = try row.decode((Int64, UUID, [UInt8], String, String).self)
            #expect(number == Int64(try #require(row.text(0))))
            #expect(uuid == UUID(postgresText: try #require(row.text(1))))
            #expect(uuid.uuidString.lowercased() == row.text(1))
            #expect(bytes == [UInt8](postgresText: try #require(row.text(2))))
            #expect(text == row.text(4))
            let time = try #require(row.withBytes(3) { $0.flatMap(RecordingTime.init(postgresUTCBytes:)) })
            #expect(time == RecordingTime(postgresUTC: try #require(row.text(3))))
        }
        #expect(try rows[1].decode(String.self, 4).hasPrefix("Жасыл Ел — 'quoted' \\ e\u{301} 😀"))
        #expect(try rows[2].decode(String.self, 4).count == 5_000)
        #expect(try rows[1].decode([UInt8].self, 2) == [0x00, 0xff, 0x10])
        #expect(
            try rows[2].withBytes(3) { $0.flatMap(RecordingTime.init(postgresUTCBytes:)) }?.rfc3339
                == "0001-01-01T00:00:00.123456Z")
        // NULL is nil as text, an error when a value is required, and nil when it may be absent.
        let null = rows[3]
        for column in 0..<5 {
            #expect(null.text(column) == nil)
            #expect(null.withBytes(column) { $0 == nil })
        }
        #expect(throws: PostgresError.self) { try null.decode(Int64.self, 0) }
        #expect(throws: PostgresError.self) { try null.decode(String.self, 4) }
        #expect(try null.decodeIfPresent(UUID.self, "u") == nil)
        #expect(try rows[0].decodeIfPresent(Int64.self, "n") == Int64.max)
        // A value of the wrong kind is a decoding error, not a crash.
        #expect(throws: PostgresError.self) { try rows[1].decode(Int64.self, 4) }
        #expect(throws: PostgresError.self) { try rows[1].decode(UUID.self, 0) }
        #expect(throws: PostgresError.self) { try rows[0].decode([UInt8].self, 4) }
    }

    @Test("UUIDs and bytea from bytes refuse what their texts refuse")
    func hostileUUIDsAndBytes() {
        let uuids = [
            "", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
            "0000000g-0000-0000-0000-000000000000", "ABCDEF01-2345-6789-abcd-ef0123456789",
            "------------------------------------", "000000000000000000000000000000000000",
            "0000000000000000000000000000000-----", "é0000000-0000-0000-0000-00000000000",
        ]
        for text in uuids {
            var copy = text
            let parsed = copy.withUTF8 { UUID(postgresBytes: UnsafeRawBufferPointer($0)) }
            #expect(parsed == UUID(postgresText: text), "\(text)")
        }
        for text in ["", "\\", "\\x", "\\x0", "\\x0g", "x00", "\\X00", "\\x00ff", "\\xFFaa"] {
            var copy = text
            let parsed = copy.withUTF8 { [UInt8](postgresBytes: UnsafeRawBufferPointer($0)) }
            #expect(parsed == [UInt8](postgresText: text), "\(text)")
        }
    }
}
