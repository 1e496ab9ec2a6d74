import ArgumentParser
import EventStore
import GrantDomain
import Projections

extension EntityKind: ExpressibleByArgument {
    public init?(argument: String) {
        guard let kind = EntityTable.kind(cliName: argument) else { return nil }
        self = kind
    }

    public static var allValueStrings: [String] { allCases.map(\.argumentName) }
}

/// `grantledger audit history <kind> <id>`: who changed this, and when.
struct AuditHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List the events of one entity's stream in order, with their integrity fields.",
        discussion: """
            Each event shows its position and leaf index (prove it with 'audit prove --position'), \
            type, business dates, recordedAt, actor, commandId, hash and the fields it records. \
            --related adds the events of the entities that point at it: a grant's sub-grants, a \
            consortium's applications and grants, a call's applications and grants, an \
            application's grant, an organisation's memberships, grants and sub-grants.
            """)

    @Argument(help: "organisation, call, consortium, application, grant or sub-grant.") var kind: EntityKind
    @Argument(help: "The entity's id.") var id: IdentifierArgument
    @Option(help: "A log position or an RFC 3339 timestamp (default: the head).") var asOf: CutOff?
    @Flag(help: "Add the events of the entities that point at this one.") var related = false
    @Option(help: "json, csv or table.") var format: ReportFormat = .table
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let history = try await withReporter(database, json: format == .json) { reporter in
            try await EntityQueries(pool: reporter.pool).history(
                kind, id.value, related: related, cutOff: asOf ?? .head)
        }
        switch format {
        case .json: print(ResponseJSON.text(history))
        case .csv: print(history.csv, terminator: "")
        case .table: print(history.table, terminator: "")
        }
    }
}
