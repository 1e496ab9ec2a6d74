import Crypto
import Foundation
import Testing

@testable import Transparency

/// Cosignatures, policies, the witness's checks and tlog-proof files, held to the C2SP texts
/// (tlog-cosignature, tlog-policy, tlog-witness, tlog-proof) transcribed in the tests.
struct WitnessingTests {
    static let root7 = Array(repeating: UInt8(7), count: 32)

    /// A tree of `size` random leaves, with its root and a way to prove consistency.
    struct Tree {
        var leaves: [Merkle.Hash]
        func root(_ size: Int) -> Merkle.Hash {
            var builder = MerkleBuilder()
            for leaf in leaves.prefix(size) { _ = builder.append(leafInput: leaf) }
            return builder.root
        }
        func consistency(_ m: Int, _ n: Int) -> [Merkle.Hash] {
            Merkle.consistencyRanges(from: Int64(m), to: Int64(n)).map { range in
                var builder = MerkleBuilder()
                for leaf in leaves[Int(range.lowerBound)..<Int(range.upperBound)] {
                    _ = builder.append(leafInput: leaf)
                }
                return builder.root
            }
        }
        init(size: Int, seed: UInt8) {
            leaves = (0..<size).map { Array(SHA256.hash(data: [seed, UInt8($0 & 0xFF), UInt8($0 >> 8)])) }
        }
    }

    @Test("a cosignature is tlog-cosignature's timestamped_signature over cosignature/v1, time, body")
    func cosignatureFormat() throws {
        let signer = try CosignatureSigner(generatingNamed: "witness.example/w1")
        let body = "grantledger.example/log\n12\n\(Data(Self.root7).base64EncodedString())\n"
        let line = try signer.cosign(body: body, timestamp: 1_679_315_147)
        // Transcribed: "— <name> base64(key ID ‖ u64 timestamp ‖ Ed25519 signature)".
        #expect(line.hasPrefix("\u{2014} witness.example/w1 ") && line.hasSuffix("\n"))
        let blob = try #require(Data(base64Encoded: String(line.dropFirst(21).dropLast())))
        #expect(blob.count == 4 + 8 + 64)
        let key = signer.verifier.publicKey
        let keyID = Array(SHA256.hash(data: Array("witness.example/w1\n".utf8) + [0x04] + key))[0..<4]
        #expect(Array(blob.prefix(4)) == Array(keyID))
        #expect(blob.dropFirst(4).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } == 1_679_315_147)
        let message = Array("cosignature/v1\ntime 1679315147\n\(body)".utf8)
        #expect(
            try Curve25519.Signing.PublicKey(rawRepresentation: key).isValidSignature(blob.dropFirst(12), for: message))
        // The vkey has signature type 0x04, and round-trips; the private key too.
        #expect(try CosignatureVerifier(signer.verifier.text) == signer.verifier)
        #expect(Data(base64Encoded: String(signer.verifier.text.split(separator: "+", maxSplits: 2)[2]))?.first == 0x04)
        #expect(try CosignatureSigner(privateKey: signer.privateKeyText).verifier == signer.verifier)
        // A log's key (type 0x01) is not a witness's, nor the other way round.
        let log = try NoteSigner(generatingNamed: "grantledger.example/log")
        #expect(throws: TransparencyError.self) { try CosignatureVerifier(log.verifier.text) }
        #expect(throws: TransparencyError.self) { try NoteVerifier(signer.verifier.text) }

        // On a checkpoint signed by the log: found, its time read back; a changed body, a
        // changed time or another key's line is not a valid cosignature by this witness.
        let note = try log.sign(body) + line
        #expect(try signer.verifier.cosignature(on: note) == 1_679_315_147)
        #expect(try Checkpoint.open(note, verifier: log.verifier).treeSize == 12, "the log's signature still opens")
        let other = try CosignatureSigner(generatingNamed: "witness.example/w1")
        #expect(try other.verifier.cosignature(on: note) == nil, "same name, another key: not its line")
        let altered = note.replacingOccurrences(of: "\n12\n", with: "\n13\n")
        #expect(throws: TransparencyError.self) { try signer.verifier.cosignature(on: altered) }
        var forged = blob
        forged[forged.startIndex + 11] ^= 1
        let retimed = try log.sign(body) + "\u{2014} witness.example/w1 \(forged.base64EncodedString())\n"
        #expect(throws: TransparencyError.self) { try signer.verifier.cosignature(on: retimed) }
    }

    static func policyText(_ log: NoteSigner, _ witnesses: [CosignatureSigner], _ tail: String) -> [UInt8] {
        Array(
            ("# a comment\n\n  log \(log.verifier.text) http://log.example\n"
                + witnesses.enumerated().map { "witness W\($0.offset + 1)\t\($0.element.verifier.text)\n" }.joined()
                + tail).utf8)
    }

    @Test("tlog-policy: the spec's two-level example, thresholds, and every malformed file refused")
    func policy() throws {
        let log = try NoteSigner(generatingNamed: "grantledger.example/log")
        let keys = try (1...6).map { try CosignatureSigner(generatingNamed: "w\($0).example") }
        // The spec's example: 2 of X1-X3 and any of Y1-Y3 (here W1-W3 and W4-W6).
        let example = try WitnessPolicy(
            Self.policyText(
                log, keys,
                "group X 2 W1 W2 W3\ngroup Y any W4 W5 W6\ngroup XY all X Y\nquorum XY\n"))
        #expect(example.logs.count == 1 && example.witnesses.count == 6 && example.quorumName == "XY")
        #expect(example.isSatisfied(by: [0, 1, 3]))
        #expect(example.isSatisfied(by: [1, 2, 5]))
        #expect(!example.isSatisfied(by: [0, 3, 4, 5]), "one X is not two")
        #expect(!example.isSatisfied(by: [0, 1, 2]), "no Y")
        #expect(try WitnessPolicy(Array("quorum none\n".utf8)).isSatisfied(by: []))
        #expect(try WitnessPolicy(Self.policyText(log, keys, "quorum W2\n")).isSatisfied(by: [1]))
        #expect(try !WitnessPolicy(Self.policyText(log, keys, "quorum W2\n")).isSatisfied(by: [0, 2]))

        let refused: [(String, String)] = [
            ("", "no quorum line"),
            ("quorum none\nquorum none\n", "two quorum lines"),
            ("quorum W1\n", "a quorum naming nothing defined"),
            ("group G all W1\n", "a group of undefined names"),
            ("witness A \(keys[0].verifier.text)\nwitness A \(keys[1].verifier.text)\nquorum A\n", "a name twice"),
            ("witness A \(keys[0].verifier.text)\nwitness B \(keys[0].verifier.text)\nquorum A\n", "a key twice"),
            ("witness none \(keys[0].verifier.text)\nquorum none\n", "none as a name"),
            ("witness A \(keys[0].verifier.text)\ngroup G 2 A\nquorum G\n", "k above n"),
            ("witness A \(keys[0].verifier.text)\ngroup G 0 A\nquorum G\n", "k of 0"),
            ("witness A \(keys[0].verifier.text)\ngroup G 01 A\nquorum G\n", "k with a leading zero"),
            ("witness A \(keys[0].verifier.text)\ngroup G any A A\nquorum G\n", "a member twice"),
            (
                "witness A \(keys[0].verifier.text)\ngroup G any A\ngroup H any A\nquorum H\n",
                "a name in two groups"
            ),
            ("witness A \(log.verifier.text)\nquorum A\n", "a log's key as a witness's"),
            ("log \(keys[0].verifier.text)\nquorum none\n", "a witness's key as a log's"),
            ("log \(log.verifier.text)\nlog \(log.verifier.text)\nquorum none\n", "a log twice"),
            ("witness A \(keys[0].verifier.text) http://a http://b\nquorum A\n", "too many fields"),
            ("quorum none\nfrobnicate\n", "an unknown keyword"),
            ("quorum none\r\n", "a carriage return"),
            ("quorum\u{0}none\n", "a NUL"),
        ]
        for (text, why) in refused {
            #expect(throws: TransparencyError.self, "\(why)") { try WitnessPolicy(Array(text.utf8)) }
        }
        // Names are octets: the Kelvin sign is not K, so a group naming one misses the other.
        #expect(throws: TransparencyError.self) {
            try WitnessPolicy(Array("witness K \(keys[0].verifier.text)\nquorum \u{212A}\n".utf8))
        }
        #expect(
            try WitnessPolicy(Array("witness \u{212A} \(keys[0].verifier.text)\nquorum \u{212A}\n".utf8)).witnesses
                .count == 1)
    }

    @Test("a policy checks a note: the log's signature, the quorum's valid cosignatures, and names who is missing")
    func policyVerifiesNotes() throws {
        let log = try NoteSigner(generatingNamed: "grantledger.example/log")
        let keys = try (1...3).map { try CosignatureSigner(generatingNamed: "w\($0).example") }
        let policy = try WitnessPolicy(Self.policyText(log, keys, "group G 2 W1 W2 W3\nquorum G\n"))
        let body = Checkpoint(origin: log.name, treeSize: 5, rootHash: Self.root7).body
        let signed = try log.sign(body)
        let two =
            signed + (try keys[0].cosign(body: body, timestamp: 10)) + (try keys[2].cosign(body: body, timestamp: 11))
        let verified = try policy.verify(two)
        #expect(verified.checkpoint.treeSize == 5 && verified.cosigners.map(\.name) == ["W1", "W3"])
        do {
            _ = try policy.verify(signed + (try keys[1].cosign(body: body, timestamp: 10)))
            Issue.record("one of three is not two")
        } catch let error as TransparencyError {
            #expect(error.message.contains("cosigned by W2") && error.message.contains("W1, W3"))
        }
        let otherLog = try NoteSigner(generatingNamed: "grantledger.example/log")
        #expect(throws: TransparencyError.self, "signed by a key the policy does not list") {
            try policy.verify(
                try otherLog.sign(body) + (try keys[0].cosign(body: body, timestamp: 1))
                    + (try keys[1].cosign(body: body, timestamp: 1)))
        }
        // A cosignature of another checkpoint does not count.
        let elsewhere = Checkpoint(origin: log.name, treeSize: 6, rootHash: Self.root7).body
        #expect(throws: TransparencyError.self) {
            try policy.verify(
                signed + (try keys[0].cosign(body: elsewhere, timestamp: 1))
                    + (try keys[1].cosign(body: body, timestamp: 1)))
        }
    }

    @Test("the witness's checks: every status of tlog-witness in the spec's order, and a forked log refused")
    func witnessRules() throws {
        let log = try NoteSigner(generatingNamed: "grantledger.example/log")
        let rules = WitnessRules(logs: [log.verifier])
        let tree = Tree(size: 300, seed: 1)
        let fork = Tree(size: 300, seed: 2)
        func request(old: Int, size: Int, proof: [Merkle.Hash] = [], in source: Tree? = nil, signer: NoteSigner? = nil)
            throws -> AddCheckpointRequest
        {
            let root = (source ?? tree).root(size)
            let key = signer ?? log
            let note = try Checkpoint(origin: key.name, treeSize: Int64(size), rootHash: root).signed(by: key)
            return try AddCheckpointRequest(
                Array(AddCheckpointRequest.text(oldSize: Int64(old), proof: proof, note: note).utf8))
        }
        func status(_ body: () throws -> Void) -> Int? {
            do {
                try body()
                return nil
            } catch let refusal as WitnessRefusal {
                return refusal.status
            } catch {
                return -1
            }
        }
        // The first checkpoint, from 0 with no proof; then 100 -> 250 with its proof.
        var head = try WitnessRules.advance(try request(old: 0, size: 100), from: nil)
        #expect(head == WitnessedHead(size: 100, root: tree.root(100)))
        head = try WitnessRules.advance(try request(old: 100, size: 250, proof: tree.consistency(100, 250)), from: head)
        #expect(head.size == 250)
        let same = try WitnessRules.advance(try request(old: 250, size: 250), from: head)
        #expect(same == head, "the same checkpoint again is cosigned again")

        #expect(status { try rules.checkSignature(try request(old: 0, size: 1)) } == nil)
        // 400: malformed bodies.
        for body in [
            "", "old 1\n", "old 01\n\n", "new 0\n\nx\n",
            "old 5\nnot base64!\n\n" + (try log.sign("a\n1\n\(Data(Self.root7).base64EncodedString())\n")),
            "old 9\n\n" + (try log.sign("a\n1\n\(Data(Self.root7).base64EncodedString())\n")),
            "old 0\n" + String(repeating: Data(Self.root7).base64EncodedString() + "\n", count: 64) + "\n"
                + (try log.sign("a\n70\n\(Data(Self.root7).base64EncodedString())\n")),
        ] {
            #expect(status { _ = try AddCheckpointRequest(Array(body.utf8)) } == 400, "\(body.debugDescription)")
        }
        #expect(status { _ = try AddCheckpointRequest([0xFF, 0xFE]) } == 400)
        // 404: an unknown origin; 403: no trusted signature.
        let stranger = try NoteSigner(generatingNamed: "other.example/log")
        #expect(status { try rules.checkSignature(try request(old: 0, size: 3, signer: stranger)) } == 404)
        let impostor = try NoteSigner(generatingNamed: log.name)
        #expect(status { try rules.checkSignature(try request(old: 0, size: 3, signer: impostor)) } == 403)
        // 409: not the size last cosigned (naming it); another tree of the same size.
        do {
            _ = try WitnessRules.advance(
                try request(old: 100, size: 260, proof: tree.consistency(100, 260)), from: head)
            Issue.record("a stale old size was accepted")
        } catch let refusal as WitnessRefusal {
            #expect(refusal.status == 409 && refusal.cosignedSize == 250)
        }
        #expect(status { _ = try WitnessRules.advance(try request(old: 250, size: 250, in: fork), from: head) } == 409)
        // 422: a proof that does not join the roots; the fork's own proof from its 250.
        #expect(
            status {
                _ = try WitnessRules.advance(
                    try request(old: 250, size: 300, proof: tree.consistency(100, 300)), from: head)
            } == 422)
        #expect(
            status {
                _ = try WitnessRules.advance(
                    try request(old: 250, size: 300, proof: fork.consistency(250, 300), in: fork), from: head)
            } == 422)
        #expect(
            status { _ = try WitnessRules.advance(try request(old: 0, size: 5, proof: [Self.root7]), from: nil) } == 422
        )
        // Every size pair of a small tree: the right proof passes, a wrong one never.
        let small = Tree(size: 40, seed: 3)
        for m in 1...40 {
            for n in m...40 {
                let from = WitnessedHead(size: Int64(m), root: small.root(m))
                #expect(
                    status {
                        _ = try WitnessRules.advance(
                            try request(old: m, size: n, proof: m == n ? [] : small.consistency(m, n), in: small),
                            from: from)
                    } == nil)
                if n > m {
                    #expect(
                        status {
                            _ = try WitnessRules.advance(
                                try request(
                                    old: m, size: n, proof: Tree(size: 40, seed: 4).consistency(m, n), in: small),
                                from: from)
                        } == 422)
                }
            }
        }
    }

    @Test("tlog-proof files: the spec's layout, round trip, a checked inclusion, and hostile files refused")
    func tlogProof() throws {
        let tree = Tree(size: 77, seed: 5)
        let log = try NoteSigner(generatingNamed: "grantledger.example/log")
        let checkpoint = Checkpoint(origin: log.name, treeSize: 77, rootHash: tree.root(77))
        let note = try checkpoint.signed(by: log)
        for index in [0, 1, 40, 76] {
            let proof = Merkle.inclusionRanges(index: Int64(index), size: 77).map { range in
                var builder = MerkleBuilder()
                for leaf in tree.leaves[Int(range.lowerBound)..<Int(range.upperBound)] {
                    _ = builder.append(leafInput: leaf)
                }
                return builder.root
            }
            let file = TlogProof(
                extra: TlogProof.eventExtra(position: Int64(index + 1), hash: tree.leaves[index]), index: Int64(index),
                proof: proof, checkpoint: note)
            let lines = file.text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(
                lines[0] == "c2sp.org/tlog-proof@v1" && lines[1].hasPrefix("extra ") && lines[2] == "index \(index)")
            #expect(lines[3 + proof.count] == "" && file.text.hasSuffix(note))
            let read = try TlogProof(text: file.text)
            #expect(read == file)
            #expect(read.statedEvent?.position == Int64(index + 1) && read.statedEvent?.hash == tree.leaves[index])
            try read.verify(leafInput: tree.leaves[index], in: checkpoint)
            #expect(throws: TransparencyError.self) {
                try read.verify(leafInput: tree.leaves[(index + 1) % 77], in: checkpoint)
            }
        }
        let noExtra = TlogProof(extra: nil, index: 0, proof: [], checkpoint: note)
        #expect(try TlogProof(text: noExtra.text) == noExtra)
        for text in [
            "", "c2sp.org/tlog-proof@v2\nindex 0\n\n" + note, "c2sp.org/tlog-proof@v1\nindex -1\n\n" + note,
            "c2sp.org/tlog-proof@v1\nindex 01\n\n" + note, "c2sp.org/tlog-proof@v1\nextra %%%\nindex 0\n\n" + note,
            "c2sp.org/tlog-proof@v1\nindex 0\nshort\n\n" + note, "c2sp.org/tlog-proof@v1\nindex 0\n",
            "c2sp.org/tlog-proof@v1\nindex 0\n"
                + String(repeating: Data(Self.root7).base64EncodedString() + "\n", count: 64) + "\n" + note,
        ] {
            #expect(throws: TransparencyError.self, "\(text.prefix(60).debugDescription)") { try TlogProof(text: text) }
        }
    }
}
