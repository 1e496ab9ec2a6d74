import ArgumentParser
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections

/// Reads `rm_entities` after catching the projections up.
/// Catches the read models up, then asks `EntityQueries`.
func readEntities<T>(_ database: DatabaseOptions, _ body: @escaping (EntityQueries) async throws -> T) async throws -> T
{
    let pool = database.makePool(maxConnections: 1)
    defer { pool.close() }
    return try await withDatabaseErrors {
        try await ProjectionRunner(pool: pool).catchUp()
        return try await body(EntityQueries(pool: pool))
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one organisation, call, consortium, application, grant or sub-grant as JSON.",
        discussion: "Grants include amounts disbursed and the sub-granting envelope used and free.")
    @Argument(help: "organisation, call, consortium, application, grant or sub-grant") var kind: EntityKind
    @Argument(help: "The identifier.") var id: String
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let found = try await readEntities(database) { try await $0.document(kind, id: id, pretty: true) }
        guard let doc = found else {
            print(ResponseJSON.text(ErrorBody(code: "notFound", message: "\(kind.rawValue) \"\(id)\" does not exist")))
            throw ExitCode(ExitStatus.notFound)
        }
        print(doc)
    }
}

/// `grantledger list KIND`.
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List organisations, calls, consortia, applications, grants or sub-grants.",
        discussion: """
            --parent filters by the owning entity: the call of applications and grants, the \
            grant of sub-grants, the programme of calls, the region (or country) of organisations.
            """)
    @Argument(help: "organisation, call, consortium, application, grant or sub-grant") var kind: EntityKind
    @Option(help: "Only entities under this parent.") var parent: String?
    @Option(help: "Only entities with this status (e.g. open, closed, awarded, cancelled).") var status: String?
    @Option(help: "text, json (JSON Lines, one document per line) or csv (a column per field).")
    var format: ListFormat = .text
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let rows = try await readEntities(database) { [kind, parent, status] in
            try await $0.list(kind, parent: parent, status: status)
        }
        switch format {
        case .csv:
            FileHandle.standardOutput.write(Data(EntityQueries.csv(kind, rows: rows, byteOrderMark: bom).utf8))
        case .json:
            for row in rows { print(row.document) }
        case .text:
            print("id\tparent\tstatus")
            for row in rows { print("\(row.id)\t\(row.parent ?? "")\t\(row.status ?? "")") }
        }
    }
}

/// How `list` prints.
enum ListFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, csv
}
