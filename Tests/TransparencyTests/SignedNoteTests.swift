import Foundation
import Testing

@testable import Transparency

struct SignedNoteTests {
    /// The example of Go's golang.org/x/mod/sumdb/note documentation: a note signed elsewhere
    /// opens here, so the formats are the same.
    @Test("the note of Go's sumdb/note documentation verifies")
    func goExample() throws {
        let verifier = try NoteVerifier("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        let note = """
            If you think cryptography is the answer to your problem,
            then you don't know what your problem is.

            \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=

            """
        #expect(
            try verifier.open(note)
                == "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        )
        var altered = note
        altered = altered.replacingOccurrences(of: "answer", with: "Answer")
        #expect(throws: TransparencyError.self) { try verifier.open(altered) }
    }

    @Test("keys round-trip through their text forms; a generated checkpoint opens with the printed verifier key")
    func roundTrip() throws {
        let signer = try NoteSigner(generatingNamed: "grantledger.example/log")
        let reread = try NoteSigner(privateKey: signer.privateKeyText)
        #expect(reread.verifier == signer.verifier)
        #expect(signer.privateKeyText.hasPrefix("PRIVATE+KEY+grantledger.example/log+"))
        let verifier = try NoteVerifier(signer.verifier.text)
        #expect(verifier == signer.verifier)

        let checkpoint = Checkpoint(origin: signer.name, treeSize: 12, rootHash: Array(repeating: 7, count: 32))
        let note = try checkpoint.signed(by: reread)
        #expect(note.hasPrefix("grantledger.example/log\n12\nBwcH"))
        #expect(try Checkpoint.open(note, verifier: verifier) == checkpoint)
    }

    @Test("notes with a wrong key name, key hash, signature, or extra or missing lines are refused")
    func refusals() throws {
        let signer = try NoteSigner(generatingNamed: "log.example")
        let other = try NoteSigner(generatingNamed: "log.example")
        let verifier = signer.verifier
        let checkpoint = Checkpoint(origin: "log.example", treeSize: 3, rootHash: Array(repeating: 1, count: 32))
        let note = try checkpoint.signed(by: signer)

        // A wrong key name: the same key under another name is another key.
        let renamed = try NoteVerifier(name: "other.example", publicKey: verifier.publicKey).text
        #expect(throws: TransparencyError.self) { try Checkpoint.open(note, verifier: NoteVerifier(renamed)) }
        // A verifier key whose hash does not match its name and key.
        let parts = verifier.text.split(separator: "+")
        #expect(throws: TransparencyError.self) { try NoteVerifier("\(parts[0])+00000000+\(parts[2])") }
        #expect(throws: TransparencyError.self) { try NoteVerifier("a b+\(parts[1])+\(parts[2])") }
        // Another key with the same name signs: its hash differs, so no signature of ours.
        #expect(throws: TransparencyError.self) {
            try Checkpoint.open(try checkpoint.signed(by: other), verifier: verifier)
        }
        // A signature line claiming our key but carrying another key's signature.
        let forged = try checkpoint.signed(by: other)
        let otherBlob = try #require(
            forged.split(separator: " ").last.flatMap { Data(base64Encoded: String($0.dropLast())) })
        let spliced =
            checkpoint.body + "\n\u{2014} log.example "
            + Data(NoteSigner.bigEndian(verifier.keyHash) + otherBlob.dropFirst(4)).base64EncodedString() + "\n"
        #expect(throws: TransparencyError.self) { try Checkpoint.open(spliced, verifier: verifier) }
        // A changed body under the original signature.
        let grown = note.replacingOccurrences(of: "\n3\n", with: "\n4\n")
        #expect(throws: TransparencyError.self) { try Checkpoint.open(grown, verifier: verifier) }
        // Extra and missing lines, signed properly: the checkpoint itself is refused.
        for body in [
            checkpoint.body + "extension\n", "log.example\n3\n", "\n" + checkpoint.body,
            "log.example\n03\n\(Data(checkpoint.rootHash).base64EncodedString())\n",
            "log.example\n3\nAAAA\n",
        ] {
            #expect(throws: TransparencyError.self) {
                try Checkpoint.open(try signer.sign(body), verifier: verifier)
            }
        }
        // Malformed signature blocks.
        for broken in [
            checkpoint.body, checkpoint.body + "\n", note.replacingOccurrences(of: "\u{2014} ", with: "-- "),
            String(note.dropLast()), note + "junk\n",
        ] {
            #expect(throws: TransparencyError.self) { try Checkpoint.open(broken, verifier: verifier) }
        }
        // A receipt is never read as a checkpoint, nor the reverse.
        let receipt = Receipt(
            origin: "log.example", position: 5, hash: Array(repeating: 2, count: 32),
            recordedAt: "2026-01-01T00:00:00.000000Z")
        let signedReceipt = try receipt.signed(by: signer)
        #expect(try Receipt.open(signedReceipt, verifier: verifier) == receipt)
        #expect(throws: TransparencyError.self) { try Checkpoint.open(signedReceipt, verifier: verifier) }
        #expect(throws: TransparencyError.self) { try Receipt.open(note, verifier: verifier) }
        // Private keys: a wrong hash or a short key.
        let privateParts = signer.privateKeyText.split(separator: "+")
        #expect(throws: TransparencyError.self) {
            try NoteSigner(privateKey: "PRIVATE+KEY+log.example+00000000+\(privateParts[4])")
        }
        #expect(throws: TransparencyError.self) {
            try NoteSigner(privateKey: "PRIVATE+KEY+log.example+\(privateParts[3])+AQID")
        }
        #expect(throws: TransparencyError.self) { try NoteSigner(generatingNamed: "with space") }
        #expect(throws: TransparencyError.self) { try NoteSigner(generatingNamed: "") }
    }
}
