import ArgumentParser
import Foundation
import PostgresClient
import Projections

/// Entity kinds as the CLI names them.
enum EntityArgument: String, ExpressibleByArgument, CaseIterable {
    case organisation, call, consortium, application, grant
    case subGrant = "sub-grant"

    var kind: EntityKind {
        switch self {
        case .organisation: return .organisation
        case .call: return .call
        case .consortium: return .consortium
        case .application: return .application
        case .grant: return .grant
        case .subGrant: return .subGrant
        }
    }
}

/// Reads `rm_entities` after catching the projections up.
func readEntities(_ database: DatabaseOptions, _ body: @escaping (PostgresConnection) async throws -> [String])
    async throws
    -> [String]
{
    let pool = database.makePool(maxConnections: 1)
    defer { pool.close() }
    return try await withDatabaseErrors {
        try await ProjectionRunner(pool: pool).catchUp()
        return try await pool.withConnection { try await body($0) }
    }
}

/// `grantledger show KIND ID`.
struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one organisation, call, consortium, application, grant or sub-grant as JSON.",
        discussion: "Grants include amounts disbursed and the sub-granting envelope used and free.")
    @Argument(help: "organisation, call, consortium, application, grant or sub-grant") var kind: EntityArgument
    @Argument(help: "The identifier.") var id: String
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let docs = try await readEntities(database) { connection in
            try await connection.query(
                "SELECT jsonb_pretty(doc) FROM rm_entities.entities WHERE kind = \(kind.kind.rawValue) AND id = \(id)"
            ).map { try $0.decode(String.self, 0) }
        }
        guard let doc = docs.first else {
            print(jsonText(["error": ["code": "notFound", "message": "\(kind.rawValue) \"\(id)\" does not exist"]]))
            throw ExitCode(ExitStatus.notFound)
        }
        print(doc)
    }
}

/// `grantledger list KIND`.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List organisations, calls, consortia, applications, grants or sub-grants.",
        discussion: """
            --parent filters by the owning entity: the call of applications and grants, the \
            grant of sub-grants, the programme of calls, the region (or country) of organisations.
            """)
    @Argument(help: "organisation, call, consortium, application, grant or sub-grant") var kind: EntityArgument
    @Option(help: "Only entities under this parent.") var parent: String?
    @Option(help: "Only entities with this status (e.g. open, closed, awarded, cancelled).") var status: String?
    @Option(help: "text or json (JSON Lines, one document per line).") var format: OutputFormat = .text
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let lines = try await readEntities(database) { connection in
            let rows = try await connection.query(
                """
                SELECT id, coalesce(parent, ''), coalesce(status, ''), doc::text FROM rm_entities.entities
                WHERE kind = \(kind.kind.rawValue)
                  AND (\(parent)::text IS NULL OR parent = \(parent))
                  AND (\(status)::text IS NULL OR status = \(status))
                ORDER BY id
                """)
            return try rows.map { row in
                format == .json
                    ? try row.decode(String.self, 3)
                    : "\(try row.decode(String.self, 0))\t\(try row.decode(String.self, 1))\t\(try row.decode(String.self, 2))"
            }
        }
        if format == .text { print("id\tparent\tstatus") }
        for line in lines { print(line) }
    }
}
