import Crypto
import EventStore
import Foundation
import Testing
import Transparency
import Witnessing

@testable import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `grantledger witness serve` as a child process on a free loopback port.
final class WitnessProcess: @unchecked Sendable {
    // Safety: `pid` changes only in `restart()`, called by the owning test from one task.
    var pid: pid_t
    let url: PlainHTTPURL
    let arguments: [String]

    private init(pid: pid_t, url: PlainHTTPURL, arguments: [String]) {
        self.pid = pid
        self.url = url
        self.arguments = arguments
    }

    static func start(key: String, logKeys: [String], state: String) async throws -> WitnessProcess {
        for _ in 0..<10 {
            let port = Int.random(in: 20_000..<32_000)
            let arguments =
                ["witness", "serve", "--key", key, "--state", state, "--port", String(port), "--log-level", "warning"]
                + logKeys.flatMap { ["--log-verifier-key", $0] }
            let witness = WitnessProcess(
                pid: 0, url: try #require(PlainHTTPURL("http://127.0.0.1:\(port)")), arguments: arguments)
            if try await witness.launch() { return witness }
        }
        throw TestSetupError(message: "grantledger witness serve did not start")
    }

    /// Starts the process; true once it answers.
    private func launch() async throws -> Bool {
        pid = try Subprocess.spawn(
            CLI.executable.path, arguments, environment: ProcessInfo.processInfo.environment,
            stderr: FileManager.default.temporaryDirectory.appendingPathComponent("gl-witness-\(url.port)").path)
        for _ in 0..<200 {
            if Subprocess.poll(pid) != nil { return false }
            if (try? await PlainHTTPClient.request(.GET, url, path: "/healthz", maxBody: 100))?.status == 200 {
                return true
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    /// kill -9, then the same command on the same port and state.
    func crashAndRestart() async throws {
        kill(pid, SIGKILL)
        _ = Subprocess.wait(pid)
        for _ in 0..<20 {
            if try await launch() { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    func stop() {
        kill(pid, SIGTERM)
        _ = Subprocess.wait(pid)
    }

    func add(old: Int64, proof: [Merkle.Hash] = [], note: String) async throws -> PlainHTTPAnswer {
        try await PlainHTTPClient.request(
            .POST, url, path: "/add-checkpoint",
            body: Array(AddCheckpointRequest.text(oldSize: old, proof: proof, note: note).utf8), maxBody: 1 << 16)
    }
}

/// A folder of keys and states for one test.
struct WitnessBench {
    let folder: URL
    let log: NoteSigner
    let logKeyFile: String
    let witnesses: [CosignatureSigner]
    let witnessKeyFiles: [String]

    init(witnesses count: Int) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-witness-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.folder = folder
        log = try NoteSigner(generatingNamed: "grantledger.test/log")
        logKeyFile = folder.appendingPathComponent("log.key").path
        witnesses = try (1...count).map { try CosignatureSigner(generatingNamed: "witness.test/w\($0)") }
        witnessKeyFiles = witnesses.indices.map { folder.appendingPathComponent("w\($0 + 1).key").path }
        try Self.secret(logKeyFile, log.privateKeyText)
        for (file, key) in zip(witnessKeyFiles, witnesses) { try Self.secret(file, key.privateKeyText) }
    }

    static func secret(_ path: String, _ text: String) throws {
        FileManager.default.createFile(
            atPath: path, contents: Data((text).utf8), attributes: [.posixPermissions: 0o600])
    }

    func startWitness(_ index: Int) async throws -> WitnessProcess {
        try await WitnessProcess.start(
            key: witnessKeyFiles[index], logKeys: [log.verifier.text],
            state: folder.appendingPathComponent("state\(index + 1)").path)
    }

    /// A policy file: this log, the witnesses at their URLs, `quorum`'s lines.
    func policy(_ processes: [WitnessProcess], _ quorum: String, name: String) throws -> String {
        let text =
            "log \(log.verifier.text)\n"
            + zip(witnesses, processes).enumerated().map {
                "witness W\($0.offset + 1) \($0.element.0.verifier.text) \($0.element.1.url)\n"
            }
            .joined() + quorum
        let path = folder.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// Random leaves, their roots and the consistency proofs between sizes.
struct LeafTree {
    var leaves: [Merkle.Hash]
    init(size: Int) { leaves = (0..<size).map { _ in (0..<32).map { _ in UInt8.random(in: 0...255) } } }
    func root(_ size: Int64) -> Merkle.Hash { subtree(0..<size) }
    func subtree(_ range: Range<Int64>) -> Merkle.Hash {
        var builder = MerkleBuilder()
        for leaf in leaves[Int(range.lowerBound)..<Int(range.upperBound)] { _ = builder.append(leafInput: leaf) }
        return builder.root
    }
    func consistency(_ m: Int64, _ n: Int64) -> [Merkle.Hash] {
        m == 0 || m == n ? [] : Merkle.consistencyRanges(from: m, to: n).map(subtree)
    }
}

@Suite("Witnesses: C2SP tlog-witness, quorums and split views")
struct WitnessTests {
    @Test("every status of tlog-witness over HTTP; a 200 survives kill -9, and a restart keeps the state")
    func witnessService() async throws {
        let bench = try WitnessBench(witnesses: 1)
        defer { bench.remove() }
        let witness = try await bench.startWitness(0)
        defer { witness.stop() }
        let tree = LeafTree(size: 400)
        @Sendable func note(_ size: Int64, _ signer: NoteSigner? = nil, root: Merkle.Hash? = nil) throws -> String {
            let key = signer ?? bench.log
            return try Checkpoint(origin: key.name, treeSize: size, rootHash: root ?? tree.root(size)).signed(by: key)
        }
        // 200: the first checkpoint from 0, its cosignature valid on it.
        let first = try await witness.add(old: 0, note: try note(10))
        #expect(first.status == 200)
        let cosigned = try note(10) + String(decoding: first.body, as: UTF8.self)
        #expect(try bench.witnesses[0].verifier.cosignature(on: cosigned) != nil)
        // 409 with the size, as text/x.tlog.size.
        let stale = try await witness.add(old: 0, note: try note(20))
        #expect(stale.status == 409 && stale.contentType == "text/x.tlog.size" && stale.body == Array("10\n".utf8))
        // 422: a proof that does not join; 409: another tree of the size cosigned.
        #expect(try await witness.add(old: 10, proof: tree.consistency(9, 20), note: try note(20)).status == 422)
        #expect(try await witness.add(old: 10, note: try note(10, root: LeafTree(size: 10).root(10))).status == 409)
        // 404, 403, 400, 413.
        #expect(
            try await witness.add(old: 0, note: try note(5, try NoteSigner(generatingNamed: "other.test/log"))).status
                == 404)
        #expect(
            try await witness.add(old: 0, note: try note(5, try NoteSigner(generatingNamed: bench.log.name))).status
                == 403)
        #expect(try await witness.add(old: 30, note: try note(20)).status == 400)
        let garbage = try await PlainHTTPClient.request(
            .POST, witness.url, path: "/add-checkpoint", body: Array("old zero\n\n\u{0}".utf8), maxBody: 1 << 16)
        #expect(garbage.status == 400)
        let huge = try await PlainHTTPClient.request(
            .POST, witness.url, path: "/add-checkpoint", body: Array(repeating: 0x41, count: 100_000), maxBody: 1 << 16)
        #expect(huge.status == 413)
        // Nothing refused moved the state: 10 -> 20 with the right proof.
        #expect(try await witness.add(old: 10, proof: tree.consistency(10, 20), note: try note(20)).status == 200)

        // Cosigning under kill -9: every size answered 200 is on disk after the restart.
        var size: Int64 = 20
        for round in 0..<3 {
            let start = size
            let sender = Task { () -> Int64 in
                var acknowledged = start
                var old = start
                for next in stride(from: start + 1, through: start + 100, by: 1) {
                    guard
                        let answer = try? await witness.add(
                            old: old, proof: tree.consistency(old, next), note: try note(next)),
                        answer.status == 200
                    else { break }
                    acknowledged = next
                    old = next
                }
                return acknowledged
            }
            try await Task.sleep(nanoseconds: UInt64(20 + 40 * round) * 1_000_000)
            try await witness.crashAndRestart()
            let acknowledged = await sender.value
            let probe = try await witness.add(old: 0, note: try note(start + 100))
            #expect(probe.status == 409)
            let kept = Int64(String(decoding: probe.body.dropLast(), as: UTF8.self)) ?? -1
            print("witness kill -9 round \(round): sizes \(start)-\(acknowledged) answered 200, \(kept) kept")
            #expect(kept >= acknowledged, "a size answered 200 was lost (round \(round))")
            #expect(kept >= start && kept <= start + 100)
            let state = try Data(contentsOf: bench.folder.appendingPathComponent("state1/state.json"))
            #expect((try JSONSerialization.jsonObject(with: state) as? [String: Any])?["logs"] != nil)
            size = kept
        }
        // A second witness cannot take the same state directory.
        let second = try await CLI(databaseURL: "").run([
            "witness", "serve", "--key", bench.witnessKeyFiles[0], "--log-verifier-key", bench.log.verifier.text,
            "--state", bench.folder.appendingPathComponent("state1").path, "--port", "1",
        ])
        #expect(second.status != 0 && second.stderr.contains("another witness"), "\(second.stderr)")
    }

    @Test("serve and witness serve refuse keys and policies they cannot use, naming why")
    func refusedSettings() async throws {
        let bench = try WitnessBench(witnesses: 2)
        defer { bench.remove() }
        let cli = CLI(databaseURL: "postgresql://nobody@127.0.0.1:1/none")
        let other = try NoteSigner(generatingNamed: "other.test/log")
        let w1 = bench.witnesses[0].verifier.text
        let cases: [(String, String)] = [
            (
                "log \(other.verifier.text)\nwitness W1 \(w1) http://127.0.0.1:9\nquorum W1\n",
                "does not list this log's key"
            ),
            ("witness W1 \(w1)\nquorum W1\n", "cannot be met"),
            ("witness W1 \(w1) https://127.0.0.1:9\nquorum W1\n", "not an http://"),
            ("witness W1 \(w1) http://127.0.0.1:9\nquorum W2\n", "policy line 2"),
        ]
        for (index, (text, why)) in cases.enumerated() {
            let path = bench.folder.appendingPathComponent("bad\(index).policy").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let refused = try await cli.run([
                "serve", "--port", "1", "--log-key", bench.logKeyFile, "--witness-policy", path,
            ])
            #expect(refused.status == 64 && refused.stderr.contains(why), "\(why): \(refused.stderr)")
        }
        let good = bench.folder.appendingPathComponent("good.policy").path
        try "witness W1 \(w1) http://127.0.0.1:9\nquorum W1\n".write(toFile: good, atomically: true, encoding: .utf8)
        let keyless = try await cli.run(["serve", "--port", "1", "--witness-policy", good])
        #expect(keyless.status == 64 && keyless.stderr.contains("needs the log's key"), "\(keyless.stderr)")
        #expect(try await cli.run(["serve", "--checkpoint-interval", "0"]).status == 64)
        // A witness given the log's key as its own, or a key file others may read, does not start.
        let wrongKey = try await cli.run([
            "witness", "serve", "--key", bench.logKeyFile, "--log-verifier-key", bench.log.verifier.text, "--state",
            bench.folder.appendingPathComponent("s").path,
        ])
        #expect(wrongKey.status == 64 && wrongKey.stderr.contains("not a witness key"), "\(wrongKey.stderr)")
        chmod(bench.witnessKeyFiles[1], 0o644)
        let readable = try await cli.run([
            "witness", "serve", "--key", bench.witnessKeyFiles[1], "--log-verifier-key", bench.log.verifier.text,
            "--state", bench.folder.appendingPathComponent("s").path,
        ])
        #expect(readable.status == 64 && readable.stderr.contains("chmod 600"), "\(readable.stderr)")
        let keygen = bench.folder.appendingPathComponent("new.key").path
        let made = try await cli.run(["witness", "keygen", "--name", "witness.test/new", "--out", keygen])
        #expect(made.status == 0 && (try? CosignatureVerifier(made.stdout)) != nil, "\(made.stderr)")
        var status = stat()
        #expect(stat(keygen, &status) == 0 && status.st_mode & 0o777 == 0o600)
        #expect(try await cli.run(["witness", "keygen", "--name", "witness.test/new", "--out", keygen]).status == 12)
    }

    @Test("the server publishes only what its quorum cosigned: 2-of-2 waits for a stopped witness, 1-of-2 does not")
    func quorum() async throws {
        let bench = try WitnessBench(witnesses: 2)
        defer { bench.remove() }
        let witnesses = [try await bench.startWitness(0), try await bench.startWitness(1)]
        defer { for witness in witnesses { witness.stop() } }
        let both = try bench.policy(witnesses, "group both all W1 W2\nquorum both\n", name: "both.policy")
        let either = try bench.policy(witnesses, "group either any W1 W2\nquorum either\n", name: "either.policy")
        let db = try await TestDatabase.make()
        try await db.importSample()
        let events = Int64(try await db.committedEvents().count)
        #expect(try await eventually(timeout: .seconds(60)) { try await db.store.treeHead().treeSize == events })
        let server = try await LiveServer.start(
            databaseURL: db.appURL, arguments: ["--log-key", bench.logKeyFile, "--witness-policy", both])
        defer { server.stop() }
        let policy = try WitnessPolicy(Array(try Data(contentsOf: URL(fileURLWithPath: both))))
        var published: WitnessPolicy.Verified?
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let answer = try await server.curl(["\(server.base)/log/checkpoint"])
                published = try? policy.verify(answer.body)
                return published?.checkpoint.treeSize == events
            })
        #expect(published?.cosigners.map(\.name) == ["W1", "W2"])
        // The same at /v1/audit/checkpoint; the CLI checks it under the policy.
        let audit = try await server.curl(["\(server.base)/v1/audit/checkpoint"])
        #expect(audit.status == 200 && (try? policy.verify(audit.body)) != nil)
        let checkpointFile = bench.folder.appendingPathComponent("cosigned.checkpoint").path
        try (audit.body).write(toFile: checkpointFile, atomically: true, encoding: .utf8)
        let cli = CLI(databaseURL: db.appURL)
        let checked = try await cli.run(["audit", "check", "--policy", both, "--checkpoint", checkpointFile])
        #expect(checked.status == 0 && checked.stdout.contains("quorum both met"), "\(checked.stdout)\(checked.stderr)")
        // A tlog-proof against it, with the exported event tying the leaf to its content.
        let proofFile = bench.folder.appendingPathComponent("event.tlog-proof").path
        let proved = try await cli.run([
            "audit", "prove", "--position", "3", "--format", "tlog-proof", "--checkpoint", checkpointFile,
        ])
        #expect(proved.status == 0, "\(proved.stderr)")
        try proved.stdout.write(toFile: proofFile, atomically: true, encoding: .utf8)
        let exported = try await cli.run(["audit", "export"])
        let eventFile = bench.folder.appendingPathComponent("events.jsonl").path
        try exported.stdout.write(toFile: eventFile, atomically: true, encoding: .utf8)
        let offline = try await cli.run([
            "audit", "check", "--policy", both, "--proof", proofFile, "--event", eventFile,
        ])
        #expect(offline.status == 0 && offline.stdout.contains("the exported event's content"), "\(offline.stdout)")
        var tampered = proved.stdout
        tampered = tampered.replacingOccurrences(of: "index ", with: "index 1")
        try tampered.write(toFile: proofFile, atomically: true, encoding: .utf8)
        #expect(try await cli.run(["audit", "check", "--policy", both, "--proof", proofFile]).status == 21)

        // W2 stops; the log grows: the 2-of-2 server keeps the old checkpoint published and
        // says why the new one waits; a 1-of-2 server publishes it with W1 alone.
        witnesses[1].stop()
        _ = try await db.store.append([event("witness-more", "Happened")])
        #expect(try await eventually(timeout: .seconds(60)) { try await db.store.treeHead().treeSize == events + 1 })
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let pending = try await server.curl(["\(server.base)/v1/audit/checkpoint/pending"])
                let object = try JSONSerialization.jsonObject(with: Data(pending.body.utf8)) as? [String: Any]
                let reports = object?["witnesses"] as? [[String: Any]] ?? []
                return object?["treeSize"] as? Int == Int(events) + 1
                    && object?["cosignedTreeSize"] as? Int == Int(events)
                    && (reports.last?["lastError"] as? String)?.contains("no answer") == true
            })
        let stillOld = try await server.curl(["\(server.base)/log/checkpoint"])
        #expect((try? policy.verify(stillOld.body))?.checkpoint.treeSize == events)
        let lenient = try await LiveServer.start(
            databaseURL: db.appURL, arguments: ["--log-key", bench.logKeyFile, "--witness-policy", either])
        defer { lenient.stop() }
        let anyPolicy = try WitnessPolicy(Array(try Data(contentsOf: URL(fileURLWithPath: either))))
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let answer = try await lenient.curl(["\(lenient.base)/log/checkpoint"])
                let verified = try? anyPolicy.verify(answer.body)
                return verified?.checkpoint.treeSize == events + 1 && verified?.cosigners.map(\.name) == ["W1"]
            })
        // ... which the 2-of-2 policy does not accept.
        let one = try await lenient.curl(["\(lenient.base)/log/checkpoint"])
        #expect(throws: TransparencyError.self) { try policy.verify(one.body) }
    }

    @Test(
        "a split view: a second history under the same key is refused by both witnesses, no quorum, audit check says why"
    )
    func splitView() async throws {
        let bench = try WitnessBench(witnesses: 2)
        defer { bench.remove() }
        let witnesses = [try await bench.startWitness(0), try await bench.startWitness(1)]
        defer { for witness in witnesses { witness.stop() } }
        let both = try bench.policy(witnesses, "group both all W1 W2\nquorum both\n", name: "both.policy")
        let policy = try WitnessPolicy(Array(try Data(contentsOf: URL(fileURLWithPath: both))))
        // The view shown to one party: its checkpoint is cosigned.
        let shown = try await TestDatabase.make()
        for n in 0..<20 { _ = try await shown.store.append([event("view-a-\(n)", "Happened")]) }
        #expect(try await eventually(timeout: .seconds(60)) { try await shown.store.treeHead().treeSize == 20 })
        let honest = try await LiveServer.start(
            databaseURL: shown.appURL, arguments: ["--log-key", bench.logKeyFile, "--witness-policy", both])
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let answer = try await honest.curl(["\(honest.base)/log/checkpoint"])
                return (try? policy.verify(answer.body))?.checkpoint.treeSize == 20
            })
        honest.stop()
        // The other view, under the same key: a longer history that does not extend it, and
        // one of the same size.
        for (count, expected) in [(30, "did not only grow"), (20, "two views")] {
            let other = try await TestDatabase.make()
            for n in 0..<count { _ = try await other.store.append([event("view-b-\(n)", "Happened")]) }
            #expect(
                try await eventually(timeout: .seconds(60)) {
                    try await other.store.treeHead().treeSize == Int64(count)
                })
            let forked = try await LiveServer.start(
                databaseURL: other.appURL, arguments: ["--log-key", bench.logKeyFile, "--witness-policy", both])
            defer { forked.stop() }
            var pending: [String: Any] = [:]
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    let answer = try await forked.curl(["\(forked.base)/v1/audit/checkpoint/pending"])
                    pending = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] ?? [:]
                    let reports = pending["witnesses"] as? [[String: Any]] ?? []
                    return reports.count == 2
                        && reports.allSatisfy { ($0["lastError"] as? String)?.contains(expected) == true }
                }, "\(pending)")
            // Nothing is published, and the forked checkpoint fails the policy naming why.
            let nothing = try await forked.curl(["\(forked.base)/log/checkpoint"])
            #expect(nothing.status == 404 && nothing.body.contains("quorum"), "\(nothing.body)")
            let file = bench.folder.appendingPathComponent("forked-\(count).checkpoint").path
            try (pending["checkpoint"] as? String ?? "").write(toFile: file, atomically: true, encoding: .utf8)
            let checked = try await CLI(databaseURL: other.appURL).run([
                "audit", "check", "--policy", both, "--checkpoint", file,
            ])
            #expect(checked.status == 21)
            #expect(checked.stdout.contains("quorum both is not met: cosigned by no witness"), "\(checked.stdout)")
        }
        // The static publication follows the same rule: audit publish --witness-policy
        // writes the shown view's checkpoint with both cosignatures, and refuses the other's.
        let site = bench.folder.appendingPathComponent("site")
        let published = try await CLI(databaseURL: shown.appURL).run([
            "audit", "publish", "--out", site.path, "--log-key", bench.logKeyFile, "--witness-policy", both,
        ])
        #expect(published.status == 0, "\(published.stderr)")
        let file = site.appendingPathComponent("checkpoint")
        let cosignedFile = try String(contentsOf: file, encoding: .utf8)
        #expect(try policy.verify(cosignedFile).checkpoint.treeSize == 20)
        let forkedSite = try await TestDatabase.make()
        for n in 0..<25 { _ = try await forkedSite.store.append([event("view-c-\(n)", "Happened")]) }
        #expect(try await eventually(timeout: .seconds(60)) { try await forkedSite.store.treeHead().treeSize == 25 })
        let refused = try await CLI(databaseURL: forkedSite.appURL).run([
            "audit", "publish", "--out", site.path, "--log-key", bench.logKeyFile, "--witness-policy", both,
        ])
        #expect(refused.status == 21 && refused.stderr.contains("did not only grow"), "\(refused.stderr)")
        #expect(try String(contentsOf: file, encoding: .utf8) == cosignedFile, "the published checkpoint is unchanged")
        // The witnesses still hold the first view.
        for witness in witnesses {
            let probe = try await witness.add(
                old: 0,
                note: try Checkpoint(origin: bench.log.name, treeSize: 20, rootHash: Array(repeating: 0, count: 32))
                    .signed(by: bench.log))
            #expect(probe.status == 409 && probe.body == Array("20\n".utf8))
        }
    }
}

/// A server on a loopback port that reads one request's head, answers it at once, ends its
/// side (FIN) and reads whatever else comes until the client closes: a server that answers
/// before the request is all written, as one refusing a body too large does.
private final class EarlyAnswerServer: Sendable {
    let port: Int
    private let listener: Int32

    init(answer: String) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, $0, &length) == 0
            }
        }
        guard listener >= 0, bound else {
            close(listener)
            throw TestSetupError(message: "no loopback socket")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var seen: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            // The head only; the body is left unread.
            while !seen.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) {
                let count = read(connection, &buffer, 1)
                if count <= 0 { break }
                seen.append(buffer[0])
            }
            let bytes = Array(answer.utf8)
            _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            shutdown(connection, Int32(SHUT_WR))
            // Drained, not reset: a close with unread data would send a reset that can take
            // the answer with it before the client reads it.
            while read(connection, &buffer, buffer.count) > 0 {}
            close(connection)
        }
    }

    deinit { close(listener) }
}

@Suite("The witnesses' HTTP client")
struct PlainHTTPClientTests {
    @Test("an answer that comes before the request is all written is read, not lost to the failed write")
    func earlyAnswer() async throws {
        let server = try EarlyAnswerServer(
            answer: "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
                + "Connection: close\r\n\r\ntoo large")
        let url = try #require(PlainHTTPURL("http://127.0.0.1:\(server.port)"))
        let answer = try await PlainHTTPClient.request(
            .POST, url, path: "/add-checkpoint", body: Array(repeating: 0x41, count: 32 << 20), maxBody: 1 << 16)
        #expect(answer.status == 413)
        #expect(answer.body == Array("too large".utf8))
    }
}
