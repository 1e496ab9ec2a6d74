import EventStore
import Foundation
import GrantLedgerHTTP
import PostgresClient
import Testing

@testable import TestSupport

/// A throwaway PostgreSQL cluster of its own (deploy/db.sh with GRANTLEDGER_PGDATA), which
/// a test may kill without disturbing the cluster the other suites use.
struct ScratchCluster {
    let state: URL
    let appURL: String
    let migrationURL: String

    /// The port the cluster's search for a free port starts from: below the ephemeral range
    /// and apart from the ports clusters and standbys take from 54330 up and the test
    /// servers take from 20000, so that nothing takes this cluster's port while it is down.
    static let portFrom = Int.random(in: 10_000..<19_000)

    /// Runs deploy/db.sh through the shell and returns what it printed; on failure, the end
    /// of what it said on standard error.
    ///
    /// Not through `Process`: PostgreSQL, started by `up`, outlives the script as a
    /// daemon, and Foundation then never reaps the script here. `popen` waits for it plainly.
    static func db(_ arguments: [String], state: URL) throws -> String {
        let script = CLI.repository.appendingPathComponent("deploy/db.sh").path
        let errors = state.deletingLastPathComponent().appendingPathComponent(state.lastPathComponent + ".stderr")
        defer { try? FileManager.default.removeItem(at: errors) }
        let command =
            "GRANTLEDGER_PORT_FROM=\(portFrom) GRANTLEDGER_PGDATA='\(state.path)' '\(script)' "
            + "\(arguments.joined(separator: " ")) 2>'\(errors.path)' </dev/null"
        guard let pipe = popen(command, "r") else { throw TestSetupError(message: "cannot run deploy/db.sh") }
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, pipe)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        let status = pclose(pipe)
        guard status == 0 else {
            let said = (try? String(contentsOf: errors, encoding: .utf8))?.suffix(1_000) ?? ""
            throw TestSetupError(
                message: "deploy/db.sh \(arguments.joined(separator: " ")) failed (\(status)): \(said)")
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func start() throws -> ScratchCluster {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gl-scratch-\(UUID().uuidString.prefix(8))")
        _ = try db(["up"], state: state)
        var urls: [String: String] = [:]
        for line in try db(["env"], state: state).split(separator: "\n") {
            // export NAME='value'
            let parts = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            urls[String(parts[0])] = String(parts[1].dropFirst().dropLast())
        }
        guard let app = urls["GRANTLEDGER_DATABASE_URL"], let migration = urls["GRANTLEDGER_MIGRATION_DATABASE_URL"]
        else {
            throw TestSetupError(message: "deploy/db.sh env printed no URLs")
        }
        return ScratchCluster(state: state, appURL: app, migrationURL: migration)
    }

    func kill() throws { _ = try Self.db(["kill"], state: state) }
    func restart() throws { _ = try Self.db(["up"], state: state) }
    func wipe() { _ = try? Self.db(["wipe"], state: state) }
}

@Suite("PostgreSQL killed under load")
struct CrashTests {
    /// One command's answers, in order.
    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var answers: [Int: [Int]] = [:]
        func record(_ index: Int, _ status: Int) { lock.withLock { answers[index, default: []].append(status) } }
        var all: [Int: [Int]] { lock.withLock { answers } }
        var acknowledged: Int { lock.withLock { answers.values.filter { $0.contains(201) || $0.contains(200) }.count } }
    }

    @Test("every acknowledged command is in the log exactly once, no 500, and re-sending records nothing twice")
    func killDuringCommands() async throws {
        let cluster = try ScratchCluster.start()
        defer { cluster.wipe() }
        let owner = try await PostgresConnection.connect(cluster.migrationURL)
        _ = try await Migrator(directory: Migrator.defaultDirectory()).migrate(on: owner)
        let token = try await TokenStore.create(name: "crash-manager", role: .manager, on: owner)
        let server = try await LiveServer.start(databaseURL: cluster.appURL)
        defer { server.stop() }

        let total = 60
        func send(_ index: Int) async throws -> Int {
            let body =
                #"{"command":"registerOrganisation","commandId":"crash-\#(index)","organisationId":"ORG-CRASH-\#(index)","#
                + #""name":"Crash \#(index)","country":"KZ","regionCode":"KZ-43","settlement":"rural","#
                + #""registrationStatus":"unregistered","leadershipGender":"women","kind":"informalGroup"}"#
            return try await server.curl([
                "-X", "POST", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                "--data-binary", body, "\(server.base)/v1/commands",
            ]).status
        }
        let ledger = Ledger()
        // Phase 1: a stream of commands, and the kill lands in the middle of it.
        let sender = Task.detached {
            for index in 0..<20 { ledger.record(index, try await send(index)) }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ledger.acknowledged < 10 {
            guard ContinuousClock.now < deadline else {
                Issue.record("commands were not acknowledged before the kill: \(ledger.all)")
                sender.cancel()
                return
            }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        try cluster.kill()
        try await sender.value
        // Phase 2: while PostgreSQL is down, every command is answered 503, never 500.
        for index in 20..<30 { ledger.record(index, try await send(index)) }
        try cluster.restart()

        // Phase 3: once the server answers again, the rest, then every command re-sent.
        for _ in 0..<100 where try await server.curl(["\(server.base)/readyz"]).status != 200 {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        for index in 30..<total { ledger.record(index, try await send(index)) }
        for index in 0..<total { ledger.record(index, try await send(index)) }

        let answers = ledger.all
        let statuses = answers.values.flatMap { $0 }
        #expect(!statuses.contains(500), "a 500 was answered: \(statuses)")
        #expect(statuses.allSatisfy { [200, 201, 503].contains($0) }, "\(statuses)")
        for index in 20..<30 {
            #expect(
                answers[index]?.first == 503, "command \(index) sent while PostgreSQL was down: \(answers[index] ?? [])"
            )
        }
        // The re-send settles every command: recorded before (200) or now (201).
        #expect(answers.values.allSatisfy { [200, 201].contains($0.last ?? 0) })

        let app = try await PostgresConnection.connect(cluster.appURL)
        let rows = try await app.query(
            """
            SELECT data->>'organisationId', count(*) FROM events
            WHERE type = 'OrganisationRegistered' GROUP BY 1
            """)
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.decode(String.self, 0)] = try row.decode(Int.self, 1) }
        for index in 0..<total {
            #expect(
                counts["ORG-CRASH-\(index)"] == 1,
                "ORG-CRASH-\(index) recorded \(counts["ORG-CRASH-\(index)"] ?? 0) times")
        }
        let commands = try await app.query("SELECT count(*) FROM commands WHERE command_id LIKE 'crash-%'")
        #expect(try commands[0].decode(Int.self, 0) == total)
    }
}
