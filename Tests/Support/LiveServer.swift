import EventStore
import Foundation
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `grantledger serve` as a child process on a free loopback port, for tests that need the
/// real server (its process, its event loops).
final class LiveServer: @unchecked Sendable {
    // Safety: `exitStatus` is only set by `isRunning` and `stop()`, which the owning test
    // calls from one task.
    let pid: pid_t
    let base: String
    /// The loopback port of `/metrics` without a token, when asked for.
    let metricsPort: Int?
    private var exitStatus: Int32?

    private init(pid: pid_t, base: String, metricsPort: Int?) {
        self.pid = pid
        self.base = base
        self.metricsPort = metricsPort
    }

    /// - Parameters:
    ///   - arguments: more options for `serve` (a later `--log-level` wins over `error`).
    ///   - stderr: where the server's log goes.
    ///   - environment: more variables for the server (URLs with passwords go here, never
    ///     on its command line).
    static func start(
        databaseURL: String, arguments: [String] = [], stderr: String? = nil, metricsPort: Bool = false,
        environment extra: [String: String] = [:]
    ) async throws -> LiveServer {
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        environment["GRANTLEDGER_DATABASE_URL"] = databaseURL
        environment["GRANTLEDGER_MIGRATIONS"] = CLI.repository.appendingPathComponent("sql").path
        // The server's log: the caller's file, or one of ours, whose end a failure reports.
        let log =
            stderr
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("gl-serve-\(UUID().uuidString)").path
        defer { if stderr == nil { try? FileManager.default.removeItem(atPath: log) } }
        for _ in 0..<10 {
            // Below Linux's ephemeral range (32768-60999), where outgoing connections take ports.
            let port = Int.random(in: 20_000..<32_000)
            let metrics = metricsPort ? Int.random(in: 20_000..<32_000) : nil
            if metrics == port { continue }
            let pid = try Subprocess.spawn(
                CLI.executable.path,
                // Few connections each: many test servers share the test cluster's 200.
                [
                    "serve", "--host", "127.0.0.1", "--port", String(port), "--log-level", "error", "--max-connections",
                    "4",
                ]
                    + (metrics.map { ["--metrics-port", String($0)] } ?? []) + arguments,
                environment: environment, stderr: log)
            let server = LiveServer(pid: pid, base: "http://127.0.0.1:\(port)", metricsPort: metrics)
            for _ in 0..<300 where server.isRunning {
                if (try? await server.curl(["\(server.base)/healthz"]))?.status == 200 { return server }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            server.stop()
        }
        let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2_000) ?? ""
        throw TestSetupError(message: "grantledger serve did not start: \(tail)")
    }

    var isRunning: Bool {
        if exitStatus == nil { exitStatus = Subprocess.poll(pid) }
        return exitStatus == nil
    }

    func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        exitStatus = Subprocess.wait(pid)
    }

    /// Runs curl and returns the HTTP status and body.
    func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
        let result = try await Subprocess.run(
            "/usr/bin/curl", ["-s", "-m", "10", "-w", "\n%{http_code}"] + arguments,
            environment: ProcessInfo.processInfo.environment)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }
}
