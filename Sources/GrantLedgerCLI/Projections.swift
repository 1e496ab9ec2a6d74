import ArgumentParser
import Foundation
import GrantDomain
import Ledger
import Projections

/// `grantledger projections status|rebuild`.
struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections", abstract: "Inspect and rebuild the read models.",
        subcommands: [ProjectionsStatus.self, ProjectionsRebuild.self, ProjectionsCatchUp.self])
}

struct ProjectionsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Checkpoint, head and lag of each projection.")
    @OptionGroup(title: "Database") var database: DatabaseOptions
    @Option(help: "text or json.") var format: OutputFormat = .text

    func run() async throws {
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let statuses = try await withDatabaseErrors { try await ProjectionRunner(pool: pool).status() }
        switch format {
        case .json:
            print(ResponseJSON.text(statuses))
        case .text:
            for status in statuses {
                print(
                    "\(status.name.padding(toLength: 10, withPad: " ", startingAt: 0)) checkpoint \(status.checkpoint)  head \(status.head)  lag \(status.lag)"
                )
            }
        }
    }
}

struct ProjectionsCatchUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catch-up", abstract: "Project every event recorded since the checkpoints.")
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let bar = ProgressBar(total: 100, label: "catch-up", enabled: stderrIsTerminal)
        try await withDatabaseErrors {
            try await ProjectionRunner(pool: pool).catchUp { _, reached, goal in
                bar.update(goal == 0 ? 100 : Int(reached * 100 / goal))
            }
        }
        bar.finish()
        print("projections caught up")
    }
}

struct ProjectionsRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the log into fresh tables while the old ones keep answering, then swap.")
    @Argument(help: "entities or i3 (all when omitted).") var names: [String] = []
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        let known = ProjectionRunner.standard.map(\.name)
        for name in names where !known.contains(name) {
            throw ValidationError("unknown projection \(name); known: \(known.joined(separator: ", "))")
        }
    }

    func run() async throws {
        // Two connections: the projections are written at once, one on each.
        let pool = database.makePool(maxConnections: 2)
        defer { pool.close() }
        let start = Date()
        let bar = ProgressBar(total: 100, label: "rebuild", enabled: stderrIsTerminal)
        try await withDatabaseErrors {
            try await ProjectionRunner(pool: pool).rebuild(names) { _, reached, goal in
                bar.update(goal == 0 ? 100 : Int(reached * 100 / goal))
            }
        }
        bar.finish()
        print(
            "rebuilt \(names.isEmpty ? "all projections" : names.joined(separator: ", ")) in \(String(format: "%.1f", Date().timeIntervalSince(start)))s"
        )
    }
}
