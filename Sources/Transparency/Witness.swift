import Foundation

/// Why a witness refused an `add-checkpoint` request, with the HTTP status c2sp.org/tlog-witness
/// names for it.
public struct WitnessRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// 400 malformed, 403 no trusted signature, 404 unknown origin, 409 not the size last
    /// cosigned (or another tree of that size), 422 the consistency proof does not verify.
    public var status: Int
    public var message: String
    /// For 409: the size of the latest cosigned checkpoint, the body of the answer.
    public var cosignedSize: Int64?

    public init(_ status: Int, _ message: String, cosignedSize: Int64? = nil) {
        self.status = status
        self.message = message
        self.cosignedSize = cosignedSize
    }

    public var description: String { "\(status): \(message)" }
}

/// The body of `POST <submission prefix>/add-checkpoint`: `old <size>`, up to 63 consistency
/// proof lines, an empty line, then the signed checkpoint.
public struct AddCheckpointRequest: Sendable {
    public var oldSize: Int64
    public var proof: [Merkle.Hash]
    /// The signed checkpoint as sent (text and signature lines).
    public var note: String
    /// The checkpoint's text, which a cosignature signs.
    public var body: String
    public var origin: String
    public var size: Int64
    public var root: Merkle.Hash

    /// The request a log sends.
    public static func text(oldSize: Int64, proof: [Merkle.Hash], note: String) -> String {
        "old \(oldSize)\n" + proof.map { Data($0).base64EncodedString() + "\n" }.joined() + "\n" + note
    }

    /// Reads a request body; a malformed one is a 400.
    public init(_ bytes: [UInt8]) throws(WitnessRefusal) {
        func bad(_ message: String) -> WitnessRefusal { WitnessRefusal(400, message) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw bad("the body is not UTF-8") }
        guard let blank = text.range(of: "\n\n") else {
            throw bad("no empty line between the old size and proof lines and the checkpoint")
        }
        let head = text[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = head.first, first.hasPrefix("old ") else { throw bad("the first line must be 'old <size>'") }
        let digits = first.dropFirst(4)
        guard let old = Int64(digits), old >= 0, String(old) == digits else {
            throw bad("the old size is not a decimal number without leading zeroes")
        }
        guard head.count - 1 <= 63 else { throw bad("more than 63 consistency proof lines") }
        var proof: [Merkle.Hash] = []
        for line in head.dropFirst() {
            guard let hash = Data(base64Encoded: String(line)), hash.count == 32 else {
                throw bad("a consistency proof line is not a base64 SHA-256 hash")
            }
            proof.append(Array(hash))
        }
        let note = String(text[blank.upperBound...])
        let body: String
        do { body = try SignedNote.split(note).text } catch { throw bad("the checkpoint: \(error)") }
        // A checkpoint's first three lines; extension lines, if any, are cosigned as sent.
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, !lines[0].isEmpty else { throw bad("the checkpoint has no origin, size and root") }
        guard let size = Int64(lines[1]), size >= 0, String(size) == lines[1] else {
            throw bad("the checkpoint's size is not a decimal number")
        }
        guard let root = Data(base64Encoded: String(lines[2])), root.count == 32 else {
            throw bad("the checkpoint's root is not a base64 SHA-256 hash")
        }
        guard old <= size else { throw bad("the old size \(old) is larger than the checkpoint's \(size)") }
        self.oldSize = old
        self.proof = proof
        self.note = note
        self.body = body
        self.origin = String(lines[0])
        self.size = size
        self.root = Array(root)
    }
}

/// What a witness holds for one log: the latest checkpoint it cosigned.
public struct WitnessedHead: Codable, Sendable, Equatable {
    public var size: Int64
    public var root: Merkle.Hash

    public init(size: Int64, root: Merkle.Hash) {
        self.size = size
        self.root = root
    }
}

/// The checks of c2sp.org/tlog-witness, without HTTP or storage.
public struct WitnessRules: Sendable {
    /// The logs this witness cosigns for, by origin, with the keys it trusts for each.
    public let logs: [String: [NoteVerifier]]

    public init(logs: [NoteVerifier]) {
        self.logs = Dictionary(grouping: logs, by: \.name)
    }

    /// The checks that need no state: a known origin (404) signed by a key trusted for it (403).
    public func checkSignature(_ request: AddCheckpointRequest) throws(WitnessRefusal) {
        guard let keys = logs.first(where: { $0.key.utf8.elementsEqual(request.origin.utf8) })?.value else {
            throw WitnessRefusal(404, "this witness does not know the log \(request.origin)")
        }
        guard keys.contains(where: { (try? $0.open(request.note)) != nil }) else {
            throw WitnessRefusal(
                403, "no signature on the checkpoint verifies against a key trusted for \(request.origin)")
        }
    }

    /// The checks against the latest cosigned head (nil: none yet), in the spec's order: the
    /// old size must be that head's size (409 naming it), a checkpoint of the same size must
    /// have the same root (409), and the proof must join the two roots (422). Returns the
    /// head to record before cosigning.
    public static func advance(_ request: AddCheckpointRequest, from recorded: WitnessedHead?)
        throws(WitnessRefusal) -> WitnessedHead
    {
        let cosigned = recorded?.size ?? 0
        guard request.oldSize == cosigned else {
            throw WitnessRefusal(
                409, "the old size \(request.oldSize) is not the size last cosigned, \(cosigned)",
                cosignedSize: cosigned)
        }
        let next = WitnessedHead(size: request.size, root: request.root)
        guard let recorded, recorded.size > 0 else {
            guard request.proof.isEmpty else {
                throw WitnessRefusal(422, "a consistency proof from an old size of 0 must be empty")
            }
            return next
        }
        if request.size == recorded.size {
            guard request.root == recorded.root else {
                throw WitnessRefusal(
                    409, "another tree of \(recorded.size) leaves was cosigned: the log shows two views",
                    cosignedSize: cosigned)
            }
            guard request.proof.isEmpty else {
                throw WitnessRefusal(422, "a consistency proof between equal sizes must be empty")
            }
            return next
        }
        guard
            Merkle.verifyConsistency(
                fromSize: recorded.size, fromRoot: recorded.root, toSize: request.size, toRoot: request.root,
                proof: request.proof)
        else {
            throw WitnessRefusal(
                422,
                "the consistency proof from \(recorded.size) to \(request.size) leaves does not verify: the log did not only grow"
            )
        }
        return next
    }
}
