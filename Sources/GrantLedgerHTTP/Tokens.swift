import Crypto
import Foundation
import PostgresClient
import Projections

/// What a token may do.
public enum Role: String, Sendable, CaseIterable, Codable {
    /// Sends commands; reads resources and reports.
    case manager
    /// Reads everything, events and audit included; never writes.
    case auditor
    /// Reads resources and reports.
    case viewer
    /// Bound to one organisation: records and retracts its own activities under grants it
    /// leads, and reads its own grants, sub-grants and activities with their proofs.
    case grantee
}

/// The caller behind a request.
public struct Identity: Sendable, Hashable {
    /// The token's name, recorded as the actor of events.
    public var name: String
    public var role: Role
    /// The organisation a grantee token acts for; nil for every other role.
    public var organisationId: String?

    public init(name: String, role: Role, organisationId: String? = nil) {
        self.name = name
        self.role = role
        self.organisationId = organisationId
    }
}

/// Why a token operation failed.
public struct TokenError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// API tokens, stored as SHA-256 hashes in `api_tokens`.
///
/// The application role only reads them; creating and revoking happen on a connection of
/// the database owner (the migration role, see `grantledger token`), so a compromised
/// application cannot mint or promote a token.
public struct TokenStore: Sendable {
    let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Array(secret.utf8))) }

    /// Creates a token on an owner connection and returns its secret, which is not stored
    /// and cannot be shown again.
    /// A grantee token names its organisation (`organisationId`), no other token does.
    public static func create(
        name: String, role: Role, organisationId: String? = nil, on connection: PostgresConnection
    ) async throws -> String {
        guard (role == .grantee) == (organisationId != nil) else {
            throw TokenError(description: "a grantee token names one organisation, and only a grantee token does")
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let secret = "glt_" + bytes.hexString
        do {
            try await connection.query(
                """
                INSERT INTO api_tokens (name, role, token_hash, organisation_id)
                VALUES (\(name), \(role.rawValue), \(hash(secret)), \(organisationId))
                """)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw TokenError(description: "a token named \(name) already exists")
        }
        return secret
    }

    /// Revokes the token called `name`, on an owner connection.
    public static func revoke(name: String, on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = \(name) AND revoked_at IS NULL")
        if rows.affectedRows == 0 { throw TokenError(description: "no active token named \(name)") }
    }

    /// The identity of an active token, nil for an unknown or revoked one.
    public func identify(secret: String) async throws -> Identity? {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT name, role, organisation_id FROM api_tokens
                WHERE token_hash = \(Self.hash(secret)) AND revoked_at IS NULL
                """)
        }
        guard let row = rows.first, let role = Role(rawValue: try row.decode(String.self, 1)) else { return nil }
        let organisationId = row.text(2)
        // A grantee without its organisation (a row the constraint should have refused) is no one.
        if role == .grantee, organisationId == nil { return nil }
        return Identity(
            name: try row.decode(String.self, 0), role: role, organisationId: role == .grantee ? organisationId : nil)
    }
}

/// Remembers recent token look-ups, known and unknown, for a few seconds, so that a busy
/// client does not cost a database round trip per request and a flood of bad tokens costs
/// at most one per distinct token. A revocation takes effect within `ttl` seconds.
final class TokenCache: Sendable {
    private struct Entry: Sendable {
        let identity: Identity?
        let expires: ContinuousClock.Instant
    }
    private let entries = BoundedCache<[UInt8], Entry>(maxEntries: 10_000)
    let ttl: Duration
    let store: TokenStore

    init(store: TokenStore, ttl: Duration = .seconds(5)) {
        self.store = store
        self.ttl = ttl
    }

    /// True for text shaped like a secret `TokenStore.create` makes (`glt_` + 64 hex
    /// digits); anything else is refused without a look-up.
    static func isWellFormed(_ secret: String) -> Bool {
        let bytes = Array(secret.utf8)
        return bytes.count == 68 && secret.hasPrefix("glt_")
            && bytes.dropFirst(4).allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    func identify(secret: String) async throws -> Identity? {
        guard Self.isWellFormed(secret) else { return nil }
        let key = TokenStore.hash(secret)
        let now = ContinuousClock.now
        if let hit = entries[key], hit.expires > now { return hit.identity }
        let identity = try await store.identify(secret: secret)
        entries.set(key, Entry(identity: identity, expires: now + ttl))
        return identity
    }
}
