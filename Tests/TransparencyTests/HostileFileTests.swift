import Foundation
import Testing

@testable import Transparency

/// Everything `audit check` reads comes from files an attacker may have written: keys,
/// notes, proofs, exported events. Random and mutated input is refused, never crashes, and
/// never verifies.
struct HostileFileTests {
    /// A line `audit export` wrote (the sample's sub-grant SG-952), with the hash PostgreSQL
    /// computed for it.
    static let exported = #"""
        {"position":370,"streamId":"subgrant-SG-952","streamVersion":1,"eventId":"3af0220e-68f3-4222-a82b-ff19d0ddb3f6","type":"SubGrantAwarded","data":{"amount": "5000", "callId": "CSOLA-2024", "grantId": "GR-01", "purpose": "Youth debate club in Sozak district", "awardedOn": "2025-11-30", "subGrantId": "SG-952", "organisationId": "CSO-61-SOZAK-JASTAR"},"metadata":{"actor": "root", "commandId": "sample-0370"},"recordedAt":"2026-11-26T11:34:55.696037Z","hash":"f1f43ea1a6b23a297a5b93e73f70dd1b9e355de5c89a68bfa043e73d0086bfb7","chainHash":"4f7a3db73c23f0302473012472744749790cd2bedef125d119db6c79cefd68aa"}
        """#

    static let pieces = [
        "\u{0}", "\u{301}", "\u{301}\u{301}\u{301}", "\u{1F600}", "\n", "\n\n", "\u{2014} ", "+", " ", "{", "}", "\"",
        "\\", "[", ":", ",", "0", "-1", "99999999999999999999", "AAAA", "=", "é", "\u{FEFF}", "\u{7F}", "\r",
    ]

    static func randomText<G: RandomNumberGenerator>(_ generator: inout G) -> String {
        var text = ""
        for _ in 0..<Int.random(in: 0...40, using: &generator) {
            text += pieces.randomElement(using: &generator) ?? ""
        }
        return text
    }

    @Test("random text with NUL, combining marks, astral characters and huge numbers is refused everywhere")
    func randomText() throws {
        var generator = SplitMix(seed: 99)
        let signer = try NoteSigner(generatingNamed: "hostile.example/log")
        let verifier = signer.verifier
        for _ in 0..<3_000 {
            let text = Self.randomText(&generator)
            #expect(throws: (any Error).self) { try verifier.open(text) }
            #expect(throws: (any Error).self) { try Checkpoint.open(text, verifier: verifier) }
            #expect(throws: (any Error).self) { try Receipt.open(text, verifier: verifier) }
            #expect(throws: (any Error).self) { try NoteSigner(privateKey: text) }
            _ = try? NoteVerifier(text)
            _ = try? Checkpoint(body: text)
            _ = try? Receipt(body: text)
            _ = try? ExportedEvent(line: text)
            _ = try? JSONDecoder().decode(InclusionProof.self, from: Data(text.utf8)).verify(root: [])
        }
        // Huge inputs: a megabyte line, ten thousand signature lines, a proof of 10,000 hashes.
        let huge = String(repeating: "\u{301}", count: 500_000)
        #expect(throws: (any Error).self) { try ExportedEvent(line: huge) }
        let checkpoint = try Checkpoint(origin: signer.name, treeSize: 5, rootHash: Array(repeating: 1, count: 32))
            .signed(by: signer)
        let manySignatures = checkpoint + String(repeating: "\u{2014} x AAAAAAAA\n", count: 10_000)
        #expect(throws: (any Error).self) { try Checkpoint.open(manySignatures, verifier: verifier) }
        let longProof = InclusionProof(
            position: 1, leafIndex: 0, treeSize: 5, leafInput: Array(repeating: 0, count: 32),
            proof: Array(repeating: Array(repeating: 0, count: 32), count: 10_000))
        #expect(throws: TransparencyError.self) { try longProof.verify(root: Array(repeating: 1, count: 32)) }
        // Text a signer must not sign: NUL and other control characters, no final newline.
        for text in ["a\u{0}b\n", "a\u{7}\n", "no newline", ""] {
            #expect(throws: TransparencyError.self) { try signer.sign(text) }
        }
        // A key name with a space or a '+', or of control characters, is no name.
        for name in ["a b", "a+b", "\u{0}", "a\u{85}b", String(repeating: "x", count: 201)] {
            #expect(throws: TransparencyError.self) { try NoteSigner(generatingNamed: name) }
        }
    }

    @Test("the exported line gives PostgreSQL's hash; any changed byte of its content does not, or is refused")
    func mutatedEvents() throws {
        let event = try ExportedEvent(line: Self.exported)
        #expect(event.recomputedHash == event.statedHash)
        #expect(event.position == 370)
        var generator = SplitMix(seed: 7)
        let bytes = Array(Self.exported.utf8)
        // Everything before "chainHash" is covered by the hash (chainHash is not).
        let covered =
            Self.exported.utf8.count
            - #","chainHash":"4f7a3db73c23f0302473012472744749790cd2bedef125d119db6c79cefd68aa"}"#.utf8.count
        var checked = 0
        for _ in 0..<2_000 {
            var mutated = bytes
            let at = Int.random(in: 1..<covered, using: &generator)
            let replacement = UInt8.random(in: 0...255, using: &generator)
            guard mutated[at] != replacement else { continue }
            // Hex digits read the same in either case (the hash, the event id): not a change.
            let isHexLetter = { (byte: UInt8) in (0x61...0x66).contains(byte | 0x20) }
            if isHexLetter(mutated[at]), isHexLetter(replacement), mutated[at] | 0x20 == replacement | 0x20 { continue }
            mutated[at] = replacement
            guard let line = String(validating: mutated, as: UTF8.self) else { continue }
            if let parsed = try? ExportedEvent(line: line) {
                // A change of the stated hash itself, or of what it covers: never both equal.
                #expect(parsed.recomputedHash != parsed.statedHash, "byte \(at) to \(replacement)")
            }
            checked += 1
        }
        #expect(checked > 500)
    }
}
