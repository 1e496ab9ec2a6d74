import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Transparency

/// `grantledger audit keygen --name NAME --out FILE`.
struct AuditKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make the log's Ed25519 signing key; print its verifier key.",
        discussion: """
            Writes the private key to --out (mode 600; an existing file is never overwritten) and \
            prints the verifier key in signed-note form, NAME+HASH+KEY, to publish to auditors. \
            The name is the origin line of every checkpoint, e.g. grantledger.example.org/log. \
            Give the file to the server and CLI with --log-key or GRANTLEDGER_LOG_KEY.
            """)

    @Option(help: "The log's name: printable, no spaces, no '+'.") var name: String
    @Option(help: "The private key file to create.") var out: String

    func validate() throws {
        do { _ = try NoteSigner(generatingNamed: name) } catch { throw ValidationError("--name: \(error)") }
    }

    func run() async throws {
        let signer = try NoteSigner(generatingNamed: name)
        try createSecretFile(out, signer.privateKeyText + "\n")
        print(signer.verifier.text)
    }
}

/// `grantledger audit checkpoint`: a fresh signed checkpoint.
struct AuditCheckpoint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Seal the log and print a signed checkpoint of its Merkle tree (a C2SP signed note).",
        discussion: """
            Keep it: later, 'audit consistency --from SIZE' and 'audit check' prove that the log \
            only grew since, and 'audit prove' that an event is in it.
            """)

    @OptionGroup(title: "Transparency log") var log: LogKeyOptions
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let signer = try log.requiredSigner()
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let head = try await withDatabaseErrors { try await EventStore(pool: pool).treeHead() }
        guard let root = Data(base64Encoded: head.rootHash) else { throw ExitCode(ExitStatus.integrity) }
        let note = try Checkpoint(origin: signer.name, treeSize: head.treeSize, rootHash: Array(root)).signed(
            by: signer)
        print(note, terminator: "")
    }
}

/// `grantledger audit publish --out DIR`: the log as static C2SP tlog-tiles files.
struct AuditPublish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Seal the log and write its checkpoint, tiles and entry bundles as C2SP tlog-tiles files.",
        discussion: """
            Writes DIR/checkpoint, DIR/tile/<L>/<N>[.p/<W>] and DIR/tile/entries/<N>[.p/<W>] \
            (c2sp.org/tlog-tiles): serve DIR with any static HTTP server as the log's prefix, \
            as the server serves /log. Full tiles already in DIR are kept (they never change); \
            partial ones and the checkpoint are written for the sealed tree's size, the \
            checkpoint last. Run it again to publish what the log gained.
            """)

    @Option(help: "The directory to write into (made if missing).") var out: String
    @OptionGroup(title: "Transparency log") var log: LogKeyOptions
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let signer = try log.requiredSigner()
        let folder = URL(fileURLWithPath: out, isDirectory: true)
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let store = EventStore(pool: pool)
        let head = try await withDatabaseErrors { try await store.treeHead() }
        guard let root = Data(base64Encoded: head.rootHash) else { throw ExitCode(ExitStatus.integrity) }
        let tiles = Tiles.tiles(forSize: head.treeSize) + Tiles.bundles(forSize: head.treeSize)
        var written = 0
        for (offset, tile) in tiles.enumerated() {
            let file = folder.appendingPathComponent(tile.path)
            if tile.isFull, FileManager.default.fileExists(atPath: file.path) { continue }
            guard let bytes = try await withDatabaseErrors({ try await store.tile(tile) }) else {
                FileHandle.standardError.write(Data("the stored tree lacks \(tile.path); run audit verify\n".utf8))
                throw ExitCode(ExitStatus.integrity)
            }
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: file, options: .atomic)
            written += 1
            if (offset + 1) % 1000 == 0 {
                FileHandle.standardError.write(Data("\(offset + 1) of \(tiles.count) tiles and bundles\n".utf8))
            }
        }
        let note = try Checkpoint(origin: signer.name, treeSize: head.treeSize, rootHash: Array(root)).signed(
            by: signer)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(note.utf8).write(to: folder.appendingPathComponent("checkpoint"), options: .atomic)
        print(
            "\(written) tiles and bundles written (\(tiles.count - written) kept), checkpoint of \(head.treeSize) leaves"
        )
    }
}

/// `grantledger audit prove --position N [--tree-size M]`.
struct AuditProve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Print the inclusion proof of the event at a position (JSON).",
        discussion: """
            {"position", "leafIndex", "treeSize", "leafInput", "proof"}, hashes in base64. \
            --tree-size is the size of a checkpoint you hold (default: the sealed log). Check it \
            offline with 'audit check --inclusion'.
            """)

    @Option(help: "The event's position.") var position: Int64
    @Option(help: "The tree size to prove against (default: the whole sealed log).") var treeSize: Int64?
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        guard position >= 1 else { throw ValidationError("--position must be at least 1") }
        if let treeSize, treeSize < 1 { throw ValidationError("--tree-size must be at least 1") }
    }

    func run() async throws {
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let proof = try await proofErrors {
            try await EventStore(pool: pool).inclusionProof(position: position, treeSize: treeSize)
        }
        print(ResponseJSON.text(proof))
    }
}

/// `grantledger audit consistency --from M1 [--to M2]`.
struct AuditConsistency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency",
        abstract: "Print the proof that the tree of --from leaves is a prefix of the tree of --to leaves (JSON).",
        discussion: """
            {"fromSize", "toSize", "proof"}, hashes in base64. --from is the size of a checkpoint \
            you hold, --to that of a newer one (default: the sealed log). Check it offline with \
            'audit check --consistency'.
            """)

    @Option(help: "The older tree size.") var from: Int64
    @Option(help: "The newer tree size (default: the whole sealed log).") var to: Int64?
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        guard from >= 1 else { throw ValidationError("--from must be at least 1") }
        if let to, to < from { throw ValidationError("--to must be at least --from") }
    }

    func run() async throws {
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let proof = try await proofErrors { try await EventStore(pool: pool).consistencyProof(from: from, to: to) }
        print(ResponseJSON.text(proof))
    }
}

/// Runs a proof request, turning what the store cannot prove into a message and exit code.
private func proofErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await withDatabaseErrors(body)
    } catch let error as ProofRequestError {
        printError("error: \(error.message)")
        throw ExitCode(error.notFound ? ExitStatus.notFound : ExitStatus.invalid)
    }
}

/// `grantledger audit check`: offline, with only the log's verifier key.
struct AuditCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check proofs, events and receipts against a signed checkpoint, offline (no database).",
        discussion: """
            Always checks the checkpoint's signature. With --inclusion, that the proof leads to \
            the checkpoint's root; with --event (a line of 'audit export') also that the event's \
            content gives the proven hash; with --receipt that the receipt is signed by the log \
            and names the proven event. With --consistency and --old-checkpoint, that the log \
            only grew from the old checkpoint to this one. Exits 0 when everything verifies, \
            21 naming what failed.
            """)

    @Option(help: "The log's verifier key (NAME+HASH+KEY), or a file holding it.") var verifierKey: String
    @Option(help: "A signed checkpoint file.") var checkpoint: String
    @Option(help: "An inclusion proof file (audit prove).") var inclusion: String?
    @Option(help: "The proven event: one line of 'audit export', unchanged.") var event: String?
    @Option(help: "A receipt file (the receipt of a command's answer).") var receipt: String?
    @Option(help: "A consistency proof file (audit consistency).") var consistency: String?
    @Option(help: "The older checkpoint the consistency proof starts from.") var oldCheckpoint: String?

    func validate() throws {
        guard inclusion != nil || consistency != nil else {
            throw ValidationError("give --inclusion PROOF and/or --consistency PROOF --old-checkpoint FILE")
        }
        if (event != nil || receipt != nil) && inclusion == nil {
            throw ValidationError("--event and --receipt need the --inclusion proof of that event")
        }
        if (consistency == nil) != (oldCheckpoint == nil) {
            throw ValidationError("--consistency and --old-checkpoint go together")
        }
    }

    func run() async throws {
        let verifier = try readVerifierKey(verifierKey)
        var failures: [String] = []
        func check(_ what: String, _ body: () throws -> String) {
            do {
                print("ok: \(try body())")
            } catch {
                failures.append("\(what): \(error)")
                print("FAILED: \(what): \(error)")
            }
        }
        var held: Checkpoint?
        check("checkpoint \(checkpoint)") {
            let opened = try Checkpoint.open(try readText(checkpoint), verifier: verifier)
            held = opened
            return
                "checkpoint signed by \(verifier.name): \(opened.treeSize) leaves, root \(Data(opened.rootHash).base64EncodedString())"
        }
        if let held, let inclusion {
            check("inclusion \(inclusion)") {
                let proof = try JSONDecoder().decode(InclusionProof.self, from: Data(try readText(inclusion).utf8))
                guard proof.treeSize == held.treeSize else {
                    throw TransparencyError(
                        "the proof is for a tree of \(proof.treeSize) leaves, the checkpoint has \(held.treeSize)")
                }
                try proof.verify(root: held.rootHash)
                if let event {
                    // The file may hold several exported lines: the proven position's is checked.
                    let lines = try readText(event).split(separator: "\n").map(String.init)
                    guard
                        let exported = try lines.count == 1
                            ? ExportedEvent(line: lines[0])
                            : lines.lazy.compactMap({ try? ExportedEvent(line: $0) }).first(where: {
                                $0.position == proof.position
                            })
                    else { throw TransparencyError("\(event) holds no event at position \(proof.position)") }
                    guard exported.recomputedHash == exported.statedHash else {
                        throw TransparencyError("the event's content does not give its stated hash (altered)")
                    }
                    guard exported.position == proof.position, exported.recomputedHash == proof.leafInputBytes else {
                        throw TransparencyError("the event at position \(exported.position) is not the proven leaf")
                    }
                }
                if let receipt {
                    let signed = try Receipt.open(try readText(receipt), verifier: verifier)
                    guard signed.position == proof.position, signed.hash == proof.leafInputBytes else {
                        throw TransparencyError("the receipt names position \(signed.position), not the proven event")
                    }
                }
                let checked =
                    ["position \(proof.position) (leaf \(proof.leafIndex))"]
                    + (event != nil ? ["the exported event's content"] : [])
                    + (receipt != nil ? ["the signed receipt"] : [])
                return checked.joined(separator: ", ") + ": in the tree of \(held.treeSize) leaves"
            }
        }
        if let held, let consistency, let oldCheckpoint {
            check("consistency \(consistency)") {
                let old = try Checkpoint.open(try readText(oldCheckpoint), verifier: verifier)
                let proof = try JSONDecoder().decode(ConsistencyProof.self, from: Data(try readText(consistency).utf8))
                guard proof.fromSize == old.treeSize, proof.toSize == held.treeSize else {
                    throw TransparencyError(
                        "the proof goes from \(proof.fromSize) to \(proof.toSize) leaves; the checkpoints hold \(old.treeSize) and \(held.treeSize)"
                    )
                }
                try proof.verify(fromRoot: old.rootHash, toRoot: held.rootHash)
                return "the log only grew from \(old.treeSize) to \(held.treeSize) leaves"
            }
        }
        if !failures.isEmpty { throw ExitCode(ExitStatus.integrity) }
    }
}

/// A verifier key given as text, or the file holding it.
func readVerifierKey(_ value: String) throws -> NoteVerifier {
    if let key = try? NoteVerifier(value) { return key }
    guard let text = try? readText(value) else {
        throw ValidationError("--verifier-key is neither a verifier key (NAME+HASH+KEY) nor a readable file")
    }
    do { return try NoteVerifier(text) } catch { throw ValidationError("--verifier-key \(value): \(error)") }
}

/// A small text file (at most 1 MiB of UTF-8).
func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TransparencyError("cannot read \(path)")
    }
    guard data.count <= 1 << 20, let text = String(validating: data, as: UTF8.self) else {
        throw TransparencyError("\(path) is not a UTF-8 text file of at most 1 MiB")
    }
    return text
}
