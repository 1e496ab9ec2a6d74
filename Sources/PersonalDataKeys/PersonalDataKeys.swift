import Crypto
import EventStore
import Foundation
import GrantDomain
import NIOConcurrencyHelpers
import PostgresClient

/// An organisation's key for its texts (docs/domain.md §15): AES-256-GCM, random, kept in
/// `personal_data_keys` outside the log (sql/022_personal_data_keys.sql).
public struct PersonalDataKey: Sendable {
    /// The key's id, as the sealed texts name it (a UUID, lower case).
    public var id: String
    public var organisationId: String
    /// The key's 32 bytes (`SymmetricKey` is not `Sendable`).
    public var bytes: [UInt8]

    public init(id: String, organisationId: String, key: SymmetricKey) {
        self.id = id
        self.organisationId = organisationId
        self.bytes = key.withUnsafeBytes { Array($0) }
    }

    public var key: SymmetricKey { SymmetricKey(data: bytes) }

    /// A new random key for the organisation, with a new id.
    public static func random(for organisationId: String) -> PersonalDataKey {
        PersonalDataKey(
            id: UUID().uuidString.lowercased(), organisationId: organisationId, key: SymmetricKey(size: .bits256))
    }
}

/// What the store knows of a key a sealed text names.
public enum PersonalDataKeyState: Sendable {
    /// The key's bytes.
    case living([UInt8])
    /// Destroyed by `erasePersonalData`.
    case erased
}

/// Seals and opens the texts of `PersonalData`. The associated data binds a box to its key,
/// event type and field, so a box cannot be moved into another organisation's event or
/// another field.
public enum PersonalDataCipher {
    static func associatedData(key: String, type: String, field: String) -> Data {
        Data("grantledger personal data v1\u{0}\(key)\u{0}\(type)\u{0}\(field)".utf8)
    }

    /// The event's data with every personal text encrypted with `key`; the data unchanged
    /// when the type has none.
    public static func seal(type: String, data: String, with key: PersonalDataKey) throws -> String {
        let symmetric = key.key
        return try PersonalData.rewrite(type: type, data: data) { field, value in
            guard let text = JSONMembers.string(value) else { return nil }
            let box = try AES.GCM.seal(
                Data(text.utf8), using: symmetric,
                authenticating: associatedData(key: key.id, type: type, field: field))
            guard let combined = box.combined else { throw CryptoKitError.incorrectParameterSize }
            return PersonalData.Sealed(key: key.id, box: combined.base64EncodedString()).json
        }
    }

    /// The text in a box: `PersonalData.erased` when its key was destroyed,
    /// `PersonalData.unavailable` when this database does not have it, or a box that does not
    /// open with it (altered).
    public static func open(
        _ sealed: PersonalData.Sealed, type: String, field: String, keys: [String: PersonalDataKeyState]
    ) -> String {
        switch keys[sealed.key] {
        case .erased?: return PersonalData.erased
        case nil: return PersonalData.unavailable
        case .living(let key)?:
            guard let bytes = Data(base64Encoded: sealed.box), let box = try? AES.GCM.SealedBox(combined: bytes),
                let text = try? AES.GCM.open(
                    box, using: SymmetricKey(data: key),
                    authenticating: associatedData(key: sealed.key, type: type, field: field))
            else { return PersonalData.unavailable }
            return String(decoding: text, as: UTF8.self)
        }
    }

}

extension StoreSession {
    /// The organisation's living key, nil when it has none (never had one, or it was erased).
    /// A read: it takes no transaction id.
    public func livingPersonalDataKey(for organisationId: String) async throws -> PersonalDataKey? {
        let rows = try await connection.query(
            "SELECT key_id::text, key FROM personal_data_key_living(\(organisationId))")
        guard let row = rows.first else { return nil }
        let (id, key) = try row.decode((String, [UInt8]).self)
        return PersonalDataKey(id: id, organisationId: organisationId, key: SymmetricKey(data: key))
    }

    /// Adds a key (`personal_data_keys_add` with one key): a command's new key, after its
    /// append in its transaction, or one from another database. Refused for a key id known
    /// here (an erased key never comes back) and for an organisation that has a living key
    /// already.
    public func addPersonalDataKey(_ key: PersonalDataKey) async throws {
        _ = try await connection.query(Self.addPersonalDataKeysQuery([key]))
    }

    /// Adds many keys in one statement (`personal_data_keys_add`, sql/027), all or none:
    /// the new keys of a run of commands, to send in its pipeline after its append. The same
    /// refusals as `addPersonalDataKey`, for the run's keys together.
    public static func addPersonalDataKeysQuery(_ keys: [PersonalDataKey]) -> PostgresQuery {
        // Prepared: one per group of commands that registers an organisation.
        let query: PostgresQuery = """
            SELECT personal_data_keys_add(\(textArray(keys.map(\.id)))::uuid[], \(textArray(keys.map(\.organisationId)))::text[],
                \(textArray(keys.map { "\\x" + $0.bytes.hexString }))::bytea[])
            """
        return query.prepared()
    }

    /// The state of each of `ids` this database knows; ids that are not UUIDs are left out
    /// (a box naming one reads as unavailable).
    public func personalDataKeys(_ ids: Set<String>) async throws -> [String: PersonalDataKeyState] {
        let valid = ids.filter { UUID(uuidString: $0) != nil }
        guard !valid.isEmpty else { return [:] }
        let rows = try await connection.query(
            "SELECT key_id::text, key FROM personal_data_keys_read(\(textArray(valid.sorted()))::uuid[])")
        var out: [String: PersonalDataKeyState] = [:]
        for index in 0..<rows.count {
            let row = rows[index]
            let id = try row.decode(String.self, 0)
            out[id] = row.text(1) == nil ? .erased : .living(try row.decode([UInt8].self, 1))
        }
        return out
    }

    /// Destroys the organisation's living key; refused by the database unless this
    /// transaction recorded its `PersonalDataErased` last in its stream.
    public func destroyPersonalDataKey(of organisationId: String) async throws {
        _ = try await connection.query("SELECT personal_data_erase(\(organisationId))")
    }

    /// `events` with their personal texts opened with the keys this database holds.
    public func opened(_ events: [RecordedEvent]) async throws -> [RecordedEvent] {
        PersonalDataCipher.opened(events, keys: try await keys(for: events.map { ($0.type, $0.data) }))
    }

    /// The data of each event with its personal texts opened, in one key look-up.
    public func openedData(_ events: [(type: String, data: String)]) async throws -> [String] {
        let keys = try await keys(for: events)
        return events.map { PersonalDataCipher.opened(type: $0.type, data: $0.data, keys: keys) }
    }

    /// The keys the sealed texts of `events` name, in one look-up (none when none is sealed).
    public func keys(for events: [(type: String, data: String)]) async throws -> [String: PersonalDataKeyState] {
        try await keys(for: events.map { PersonalData.locate(type: $0.type, data: $0.data) })
    }

    /// The keys the texts located in events (`PersonalData.locate`) name, in one look-up.
    public func keys(for located: [PersonalData.SealedTexts?]) async throws -> [String: PersonalDataKeyState] {
        var ids: Set<String> = []
        for texts in located { for text in texts?.texts ?? [] { ids.insert(text.sealed.key) } }
        return ids.isEmpty ? [:] : try await personalDataKeys(ids)
    }
}

extension PersonalDataCipher {
    /// The event's data with its sealed texts opened with `keys`.
    public static func opened(type: String, data: String, keys: [String: PersonalDataKeyState]) -> String {
        PersonalData.opened(type: type, data: data) { field, sealed in
            open(sealed, type: type, field: field, keys: keys)
        }
    }

    /// `events` with their sealed texts opened with `keys`.
    public static func opened(_ events: [RecordedEvent], keys: [String: PersonalDataKeyState]) -> [RecordedEvent] {
        events.map { event in
            var event = event
            event.data = opened(type: event.type, data: event.data, keys: keys)
            return event
        }
    }

    /// `events` with the texts located in them (`located[i]` for `events[i]`) opened with `keys`.
    public static func opened(
        _ events: ArraySlice<LogEntry>, located: ArraySlice<PersonalData.SealedTexts?>,
        keys: [String: PersonalDataKeyState]
    ) -> [LogEntry] {
        zip(events, located).map { event, texts in
            guard let texts else { return event }
            var event = event
            event.data = PersonalData.opened(texts) { field, sealed in
                open(sealed, type: event.type, field: field, keys: keys)
            }
            return event
        }
    }
}

extension EventStore {
    /// `StoreSession.opened` on a connection of the pool.
    public func opened(_ events: [RecordedEvent]) async throws -> [RecordedEvent] {
        try await withSession { try await $0.opened(events) }
    }

    /// `StoreSession.keys(for:)` on a connection of the pool.
    public func keys(for events: [RecordedEvent]) async throws -> [String: PersonalDataKeyState] {
        try await keys(for: events.map { PersonalData.locate(type: $0.type, data: $0.data) })
    }

    /// `StoreSession.keys(for:)` of located texts on a connection of the pool.
    public func keys(for located: [PersonalData.SealedTexts?]) async throws -> [String: PersonalDataKeyState] {
        try await withSession { try await $0.keys(for: located) }
    }
}

extension StoreSession {
    /// Every living key (`personal_data_keys_living`), for `audit export --keys`.
    public func livingPersonalDataKeys() async throws -> [PersonalDataKey] {
        let rows = try await connection.query(
            "SELECT key_id::text, organisation_id, key FROM personal_data_keys_living()")
        return try rows.map { row in
            let (id, organisationId, key) = try row.decode((String, String, [UInt8]).self)
            return PersonalDataKey(id: id, organisationId: organisationId, key: SymmetricKey(data: key))
        }
    }

}

/// The keys file of `audit export --keys` / `audit import --keys`: one JSON object per line,
/// `{"key": "<base64>", "keyId": "<uuid>", "organisationId": "…"}`.
public enum PersonalDataKeysFile {
    struct Line: Codable {
        var keyId: String
        var organisationId: String
        var key: String
    }

    public static func text(_ keys: [PersonalDataKey]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return keys.map { key in
            let line = Line(
                keyId: key.id, organisationId: key.organisationId,
                key: Data(key.bytes).base64EncodedString())
            return String(decoding: (try? encoder.encode(line)) ?? Data(), as: UTF8.self) + "\n"
        }.joined()
    }

    /// The keys of a file; throws naming the first line that is not a key.
    public static func parse(_ text: String) throws -> [PersonalDataKey] {
        let decoder = JSONDecoder()
        var keys: [PersonalDataKey] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let parsed = try? decoder.decode(Line.self, from: Data(line.utf8)),
                UUID(uuidString: parsed.keyId) != nil, !parsed.organisationId.isEmpty,
                parsed.organisationId.utf8.count <= 128,
                let bytes = Data(base64Encoded: parsed.key), bytes.count == 32
            else { throw PersonalDataKeysFileError(line: index + 1) }
            keys.append(
                PersonalDataKey(
                    id: parsed.keyId.lowercased(), organisationId: parsed.organisationId, key: SymmetricKey(data: bytes)
                ))
        }
        return keys
    }
}

public struct PersonalDataKeysFileError: Error, CustomStringConvertible {
    public var line: Int
    public var description: String { "line \(line) is not a key (keyId, organisationId, key: 32 bytes in base64)" }
}

/// The living keys a process has used, by organisation, each with the version of the
/// organisation's stream at which it was known to live. A key is destroyed only with a
/// `PersonalDataErased` appended to that stream, so a command that reads the stream (under
/// its lock) at the same version may use the key without asking the database. Filled only
/// after commits; bounded.
public final class PersonalDataKeyCache: Sendable {
    private let entries = NIOLockedValueBox<[String: (key: PersonalDataKey, version: Int64)]>([:])
    private let limit: Int

    public init(limit: Int = 100_000) { self.limit = limit }

    /// The organisation's key, if it was known to live at `version` of its stream.
    public func key(for organisationId: String, atVersion version: Int64) -> PersonalDataKey? {
        entries.withLockedValue { entries in
            entries[organisationId].flatMap { $0.version == version ? $0.key : nil }
        }
    }

    /// A key a command used, and its organisation's stream version after the command.
    public struct Use: Sendable {
        public var key: PersonalDataKey
        public var version: Int64
        public init(key: PersonalDataKey, version: Int64) {
            self.key = key
            self.version = version
        }
    }

    /// Remembers a committed command's key.
    public func remember(_ use: Use?) {
        guard let use else { return }
        entries.withLockedValue { entries in
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[use.key.organisationId] = (use.key, use.version)
        }
    }
}
