import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Transparency
import Witnessing

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
            checkpoint last. Run it again to publish what the log gained. With \
            --witness-policy, the checkpoint goes to the policy's witnesses first and is written \
            only with its quorum's cosignatures (else the old one stays, exit 21, naming why).
            """)

    @Option(help: "The directory to write into (made if missing).") var out: String
    @Option(help: "A c2sp.org/tlog-policy file: publish only a checkpoint its quorum of witnesses cosigned.")
    var witnessPolicy: String?
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
        let checkpoint = Checkpoint(origin: signer.name, treeSize: head.treeSize, rootHash: Array(root))
        var note = try checkpoint.signed(by: signer)
        if let witnessPolicy {
            let witnesses = try loadWitnessCollector(witnessPolicy, log: signer.verifier)
            let size = head.treeSize
            guard
                let cosigned = await witnesses.cosign(
                    note: note, checkpoint: checkpoint,
                    proof: { old in
                        try await store.consistencyProof(from: old, to: size).proof.compactMap {
                            Data(base64Encoded: $0).map(Array.init)
                        }
                    })
            else {
                for report in witnesses.witnessReports where report.lastStatus != 200 {
                    printError("witness \(report.name): \(report.lastError ?? "no cosignature")")
                }
                printError(
                    "error: the quorum \(witnesses.policy.quorumName) did not cosign the checkpoint of \(size) leaves; the published checkpoint is unchanged"
                )
                throw ExitCode(ExitStatus.integrity)
            }
            note = cosigned
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(note.utf8).write(to: folder.appendingPathComponent("checkpoint"), options: .atomic)
        print(
            "\(written) tiles and bundles written (\(tiles.count - written) kept), checkpoint of \(head.treeSize) leaves"
        )
    }
}

/// `grantledger audit prove --position N [--tree-size M] [--format json|tlog-proof]`.
struct AuditProve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Print the inclusion proof of the event at a position (JSON, or a C2SP tlog-proof).",
        discussion: """
            json: {"position", "leafIndex", "treeSize", "leafInput", "proof"}, hashes in base64; \
            --tree-size is the size of a checkpoint you hold (default: the sealed log). \
            tlog-proof: a c2sp.org/tlog-proof file (save it as NAME.tlog-proof) against the \
            checkpoint in --checkpoint (a published, cosigned one: GET /log/checkpoint), else a \
            checkpoint of the sealed log signed with --log-key; its extra data names the event's \
            position and hash. Check either offline with 'audit check' (--inclusion or --proof).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json
        case tlogProof = "tlog-proof"
    }

    @Option(help: "The event's position.") var position: Int64
    @Option(help: "The tree size to prove against (default: the whole sealed log).") var treeSize: Int64?
    @Option(help: "json (the default) or tlog-proof.") var format: Format = .json
    @Option(help: "For tlog-proof: the (cosigned) checkpoint to prove against, as published.") var checkpoint: String?
    @OptionGroup(title: "Transparency log") var log: LogKeyOptions
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        guard position >= 1 else { throw ValidationError("--position must be at least 1") }
        if let treeSize, treeSize < 1 { throw ValidationError("--tree-size must be at least 1") }
        if format == .json, checkpoint != nil { throw ValidationError("--checkpoint is for --format tlog-proof") }
        if checkpoint != nil, treeSize != nil {
            throw ValidationError("--checkpoint names the tree size: leave out --tree-size")
        }
    }

    func run() async throws {
        let pool = database.makePool(maxConnections: 1)
        defer { pool.close() }
        let store = EventStore(pool: pool)
        guard format == .tlogProof else {
            let proof = try await proofErrors { try await store.inclusionProof(position: position, treeSize: treeSize) }
            print(ResponseJSON.text(proof))
            return
        }
        let note: String
        let size: Int64
        if let checkpoint {
            note = try readText(checkpoint)
            // Only the size is read here; 'audit check' verifies the signatures.
            guard let body = note.components(separatedBy: "\n\n").first,
                let parsed = try? Checkpoint(body: body + "\n")
            else { throw ValidationError("--checkpoint \(checkpoint) is not a signed checkpoint") }
            size = parsed.treeSize
        } else {
            let signer = try log.requiredSigner()
            let head = try await withDatabaseErrors { try await store.treeHead() }
            size = treeSize ?? head.treeSize
            guard size <= head.treeSize else {
                printError("error: the sealed tree has \(head.treeSize) leaves, not \(size)")
                throw ExitCode(ExitStatus.notFound)
            }
            let root = try await withDatabaseErrors { try await store.withSession { try await $0.root(size: size) } }
            note = try Checkpoint(origin: signer.name, treeSize: size, rootHash: root).signed(by: signer)
        }
        let proof = try await proofErrors { try await store.inclusionProof(position: position, treeSize: size) }
        guard let leaf = proof.leafInputBytes else { throw ExitCode(ExitStatus.integrity) }
        let hashes = proof.proof.compactMap { Data(base64Encoded: $0).map(Array.init) }
        print(
            TlogProof(
                extra: TlogProof.eventExtra(position: position, hash: leaf), index: proof.leafIndex, proof: hashes,
                checkpoint: note
            ).text, terminator: "")
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

/// `grantledger audit check`: offline, with only the log's verifier key or a policy.
struct AuditCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Check checkpoints, proofs, events and receipts offline (no database), under a witness policy if given.",
        discussion: """
            Always checks the checkpoint's signature by the log; with --policy (a \
            c2sp.org/tlog-policy file) also that the policy's quorum of witnesses cosigned it, \
            naming the witnesses missing. With --inclusion, that the proof leads to the \
            checkpoint's root; with --proof, a c2sp.org/tlog-proof file (audit prove --format \
            tlog-proof), the same with the checkpoint it carries. With --event (a line of \
            'audit export') also that the event's content gives the proven hash; with --receipt \
            that the receipt is signed by the log and names the proven event. With --consistency \
            and --old-checkpoint, that the log only grew from the old checkpoint to this one. \
            Exits 0 when everything verifies, 21 naming what failed.
            """)

    @Option(help: "The log's verifier key (NAME+HASH+KEY), or a file holding it (default: the policy's logs).")
    var verifierKey: String?
    @Option(help: "A c2sp.org/tlog-policy file: the logs, the witnesses and the quorum that must have cosigned.")
    var policy: String?
    @Option(help: "A signed checkpoint file (default: the one in --proof).") var checkpoint: String?
    @Option(help: "An inclusion proof file (audit prove).") var inclusion: String?
    @Option(help: "A c2sp.org/tlog-proof file (audit prove --format tlog-proof).") var proof: String?
    @Option(help: "The proven event: one line of 'audit export', unchanged.") var event: String?
    @Option(help: "A receipt file (the receipt of a command's answer).") var receipt: String?
    @Option(help: "A consistency proof file (audit consistency).") var consistency: String?
    @Option(help: "The older checkpoint the consistency proof starts from.") var oldCheckpoint: String?

    func validate() throws {
        guard verifierKey != nil || policy != nil else {
            throw ValidationError("give the log's key with --verifier-key, or a --policy that names the log")
        }
        guard checkpoint != nil || proof != nil else {
            throw ValidationError("give --checkpoint FILE, or a --proof FILE that carries one")
        }
        guard inclusion == nil || proof == nil else {
            throw ValidationError("--inclusion and --proof are two forms of one proof: give one")
        }
        if (event != nil || receipt != nil) && inclusion == nil && proof == nil {
            throw ValidationError("--event and --receipt need the --inclusion or --proof of that event")
        }
        if (consistency == nil) != (oldCheckpoint == nil) {
            throw ValidationError("--consistency and --old-checkpoint go together")
        }
    }

    func run() async throws {
        let given = try verifierKey.map(readVerifierKey)
        let trust = try policy.map(readPolicy)
        var failures: [String] = []
        func check(_ what: String, _ body: () throws -> String) {
            do {
                print("ok: \(try body())")
            } catch {
                failures.append("\(what): \(error)")
                print("FAILED: \(what): \(error)")
            }
        }
        var tlogProof: TlogProof?
        if let proof {
            check("proof \(proof)") {
                tlogProof = try TlogProof(text: try readText(proof))
                return "a c2sp.org/tlog-proof of leaf \(tlogProof?.index ?? 0)"
            }
        }
        var held: Checkpoint?
        var log: NoteVerifier?
        if let note = try checkpoint.map(readText) ?? tlogProof?.checkpoint {
            check("checkpoint \(checkpoint ?? proof ?? "")") {
                if let trust {
                    let verified = try trust.verify(note, log: given)
                    (held, log) = (verified.checkpoint, verified.log)
                    return "checkpoint signed by \(verified.log.name): \(verified.checkpoint.treeSize) leaves, "
                        + "cosigned by "
                        + (verified.cosigners.isEmpty
                            ? "no witness"
                            : verified.cosigners.map { "\($0.name) (time \($0.time))" }.joined(separator: ", "))
                        + "; quorum \(trust.quorumName) met"
                }
                guard let given else { throw TransparencyError("no log key") }
                let opened = try Checkpoint.open(note, verifier: given)
                (held, log) = (opened, given)
                return
                    "checkpoint signed by \(given.name): \(opened.treeSize) leaves, root \(Data(opened.rootHash).base64EncodedString())"
            }
        }
        if let held, let log, let inclusion {
            check("inclusion \(inclusion)") {
                let proof = try JSONDecoder().decode(InclusionProof.self, from: Data(try readText(inclusion).utf8))
                guard proof.treeSize == held.treeSize else {
                    throw TransparencyError(
                        "the proof is for a tree of \(proof.treeSize) leaves, the checkpoint has \(held.treeSize)")
                }
                try proof.verify(root: held.rootHash)
                guard let leaf = proof.leafInputBytes else { throw TransparencyError("the proof's leaf is not a hash") }
                let checked = try checkLeaf(position: proof.position, leaf: leaf, log: log)
                return (["position \(proof.position) (leaf \(proof.leafIndex))"] + checked).joined(separator: ", ")
                    + ": in the tree of \(held.treeSize) leaves"
            }
        }
        if let held, let log, let tlogProof {
            check("inclusion in \(proof ?? "")") {
                guard let stated = tlogProof.statedEvent else {
                    throw TransparencyError(
                        "the proof's extra data does not name a grantledger event (position and hash)")
                }
                try tlogProof.verify(leafInput: stated.hash, in: held)
                let checked = try checkLeaf(position: stated.position, leaf: stated.hash, log: log)
                return (["position \(stated.position) (leaf \(tlogProof.index))"] + checked).joined(separator: ", ")
                    + ": in the tree of \(held.treeSize) leaves"
            }
        }
        if let held, let log, let consistency, let oldCheckpoint {
            check("consistency \(consistency)") {
                let old = try Checkpoint.open(try readText(oldCheckpoint), verifier: log)
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

    /// What ties the proven leaf to an event: `--event`'s content, `--receipt`'s signature.
    private func checkLeaf(position: Int64, leaf: Merkle.Hash, log: NoteVerifier) throws -> [String] {
        if let event {
            // The file may hold several exported lines: the proven position's is checked.
            let lines = try readText(event).split(separator: "\n").map(String.init)
            guard
                let exported = try lines.count == 1
                    ? ExportedEvent(line: lines[0])
                    : lines.lazy.compactMap({ try? ExportedEvent(line: $0) }).first(where: {
                        $0.position == position
                    })
            else { throw TransparencyError("\(event) holds no event at position \(position)") }
            guard exported.recomputedHash == exported.statedHash else {
                throw TransparencyError("the event's content does not give its stated hash (altered)")
            }
            guard exported.position == position, exported.recomputedHash == leaf else {
                throw TransparencyError("the event at position \(exported.position) is not the proven leaf")
            }
        }
        if let receipt {
            let signed = try Receipt.open(try readText(receipt), verifier: log)
            guard signed.position == position, signed.hash == leaf else {
                throw TransparencyError("the receipt names position \(signed.position), not the proven event")
            }
        }
        return (event != nil ? ["the exported event's content"] : []) + (receipt != nil ? ["the signed receipt"] : [])
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
