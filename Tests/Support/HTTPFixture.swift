import EventStore
import Foundation
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import Testing
import Transparency

/// A test database with the sample programme, tokens of every role, and the application.
struct HTTPFixture {
    let db: TestDatabase
    let tokens: [Role: String]
    /// The log's key, when the server under test signs checkpoints and receipts.
    var signer: NoteSigner? = nil
    /// Seconds a request waits for one of the server's four database connections before it is
    /// answered 503. Short by default, so that tests of refusals end soon; a test that sends
    /// several requests at once on a loaded machine gives them longer (`HostileInputTests`'
    /// bounded work: six verifications and the server's own followers share the four).
    var acquireTimeout = Self.shortAcquireTimeout
    static let shortAcquireTimeout: Double = 2

    /// The organisation of the grantee token: the lead of the sample's grant GR-01.
    public static let granteeOrganisation = "INGO-DE-FES"

    static func make(sample: Bool = true, acquireTimeout: Double = shortAcquireTimeout) async throws
        -> HTTPFixture
    {
        let db = try await TestDatabase.make()
        if sample { try await db.importSample() }
        let owner = try await db.owner()
        var tokens: [Role: String] = [:]
        for role in Role.allCases {
            // The grantee token acts for the lead of the sample's grant GR-01.
            tokens[role] = try await TokenStore.create(
                name: "t-\(role.rawValue)", role: role, organisationId: role == .grantee ? granteeOrganisation : nil,
                on: owner)
        }
        return HTTPFixture(db: db, tokens: tokens, acquireTimeout: acquireTimeout)
    }

    var application: some ApplicationProtocol {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return buildApplication(
            ServerConfiguration(
                conninfo: db.appURL, maxConnections: 4, acquireTimeout: acquireTimeout, logSigner: signer),
            logger: logger)
    }

    func headers(_ role: Role?, _ extra: HTTPFields = [:]) -> HTTPFields {
        var fields = extra
        if let role, let token = tokens[role] { fields[.authorization] = "Bearer \(token)" }
        return fields
    }
}

/// A JSON object answer's text as a dictionary (empty when it is not one).
public func json(_ text: String) -> [String: Any] { json(ByteBuffer(string: text)) }

func json(_ buffer: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8))) as? [String: Any] ?? [:]
}

func errorCode(_ buffer: ByteBuffer) -> String? { (json(buffer)["error"] as? [String: Any])?["code"] as? String }
