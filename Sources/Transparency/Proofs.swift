import Crypto
import Foundation

/// `audit prove`'s answer: leaf `leafIndex` (the event at `position`) is in the tree of
/// `treeSize` leaves. Hashes are base64.
public struct InclusionProof: Codable, Sendable, Equatable {
    public var position: Int64
    public var leafIndex: Int64
    public var treeSize: Int64
    public var leafInput: String
    public var proof: [String]

    public init(position: Int64, leafIndex: Int64, treeSize: Int64, leafInput: Merkle.Hash, proof: [Merkle.Hash]) {
        self.position = position
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.leafInput = Data(leafInput).base64EncodedString()
        self.proof = proof.map { Data($0).base64EncodedString() }
    }

    /// Checks the proof against `root`, the root of the tree of `treeSize` leaves.
    public func verify(root: Merkle.Hash) throws {
        guard let input = Data(base64Encoded: leafInput), input.count == 32 else {
            throw TransparencyError("the proof's leafInput is not 32 bytes of base64")
        }
        let path = try decodeHashes(proof)
        guard
            Merkle.verifyInclusion(
                leafHash: Merkle.leafHash(Array(input)), index: leafIndex, size: treeSize, proof: path, root: root)
        else {
            throw TransparencyError(
                "the inclusion proof of position \(position) (leaf \(leafIndex)) does not lead to the root of the tree of \(treeSize) leaves"
            )
        }
    }

    /// The leaf input's bytes (the event hash), if well formed.
    public var leafInputBytes: Merkle.Hash? {
        Data(base64Encoded: leafInput).flatMap { $0.count == 32 ? Array($0) : nil }
    }
}

/// `audit consistency`'s answer: the tree of `fromSize` leaves is a prefix of the tree of
/// `toSize` leaves.
public struct ConsistencyProof: Codable, Sendable, Equatable {
    public var fromSize: Int64
    public var toSize: Int64
    public var proof: [String]

    public init(fromSize: Int64, toSize: Int64, proof: [Merkle.Hash]) {
        self.fromSize = fromSize
        self.toSize = toSize
        self.proof = proof.map { Data($0).base64EncodedString() }
    }

    /// Checks the proof between the two roots.
    public func verify(fromRoot: Merkle.Hash, toRoot: Merkle.Hash) throws {
        let path = try decodeHashes(proof)
        guard
            Merkle.verifyConsistency(
                fromSize: fromSize, fromRoot: fromRoot, toSize: toSize, toRoot: toRoot, proof: path)
        else {
            throw TransparencyError(
                "the consistency proof from \(fromSize) to \(toSize) leaves does not join the two roots: the log did not only grow"
            )
        }
    }
}

private func decodeHashes(_ values: [String]) throws -> [Merkle.Hash] {
    guard values.count <= 128 else { throw TransparencyError("a proof has at most 128 hashes") }
    return try values.map { value in
        guard let bytes = Data(base64Encoded: value), bytes.count == 32 else {
            throw TransparencyError("a proof hash is not 32 bytes of base64")
        }
        return Array(bytes)
    }
}

/// One line of `audit export`, read offline: its fields and its content hash recomputed from
/// them, exactly as the database's `event_canonical()` (sql/002) builds it.
public struct ExportedEvent: Sendable {
    public var position: Int64
    /// The `hash` the line states.
    public var statedHash: Merkle.Hash
    /// SHA-256 of the canonical text rebuilt from the line's fields.
    public var recomputedHash: Merkle.Hash

    /// Reads a line as `audit export` wrote it (its `data` and `metadata` kept byte for byte).
    public init(line: String) throws {
        let members = try RawJSON.members(of: Array(line.trimmingCharacters(in: .whitespacesAndNewlines).utf8))
        func raw(_ key: String) throws -> [UInt8] {
            guard let value = members[key] else { throw TransparencyError("the event has no \(key)") }
            return value
        }
        func string(_ key: String) throws -> String {
            guard let value = try? JSONDecoder().decode(String.self, from: Data(try raw(key))) else {
                throw TransparencyError("the event's \(key) is not a string")
            }
            return value
        }
        func integer(_ key: String) throws -> Int64 {
            guard let value = Int64(String(decoding: try raw(key), as: UTF8.self)) else {
                throw TransparencyError("the event's \(key) is not an integer")
            }
            return value
        }
        position = try integer("position")
        guard let hash = Hex.decode(try string("hash")), hash.count == 32 else {
            throw TransparencyError("the event's hash is not 64 hex digits")
        }
        statedHash = hash
        var canonical: [UInt8] = Array("[\(position), ".utf8)
        canonical += Self.quoted(try string("streamId")) + Array(", \(try integer("streamVersion")), ".utf8)
        canonical += Self.quoted(try string("eventId").lowercased()) + Array(", ".utf8)
        canonical += Self.quoted(try string("type")) + Array(", ".utf8)
        canonical += Self.quoted(try string("recordedAt")) + Array(", ".utf8)
        canonical += try raw("data") + Array(", ".utf8) + (try raw("metadata")) + Array("]".utf8)
        recomputedHash = Array(SHA256.hash(data: canonical))
    }

    /// A string as jsonb's text output writes it.
    static func quoted(_ value: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in value.utf8 {
            switch byte {
            case 0x08: out += Array("\\b".utf8)
            case 0x0C: out += Array("\\f".utf8)
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case UInt8(ascii: "\""): out += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
            case ..<0x20: out += Array("\\u00".utf8) + Array(Hex.encode([byte]).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}

/// The top-level members of a JSON object, each value kept as its raw bytes.
enum RawJSON {
    static func members(of bytes: [UInt8]) throws -> [String: [UInt8]] {
        var i = 0
        func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }
        func expect(_ c: UInt8) throws {
            skipSpace()
            guard i < bytes.count, bytes[i] == c else { throw TransparencyError("the event is not a JSON object") }
            i += 1
        }
        /// Skips a string starting at `i` (on its quote).
        func skipString() throws {
            i += 1
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\\"): i += 2
                case UInt8(ascii: "\""):
                    i += 1
                    return
                default: i += 1
                }
            }
            throw TransparencyError("unterminated string in the event")
        }
        func skipValue() throws {
            skipSpace()
            guard i < bytes.count else { throw TransparencyError("the event ends early") }
            switch bytes[i] {
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                repeat {
                    guard i < bytes.count else { throw TransparencyError("the event ends early") }
                    switch bytes[i] {
                    case UInt8(ascii: "\""):
                        try skipString()
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    i += 1
                } while depth > 0
            default:
                while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}")].contains(bytes[i]) { i += 1 }
            }
        }
        var members: [String: [UInt8]] = [:]
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { return members }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                throw TransparencyError("the event is not a JSON object")
            }
            let keyStart = i
            try skipString()
            guard let key = try? JSONDecoder().decode(String.self, from: Data(bytes[keyStart..<i])) else {
                throw TransparencyError("the event has a malformed key")
            }
            try expect(UInt8(ascii: ":"))
            skipSpace()
            let valueStart = i
            try skipValue()
            var valueEnd = i
            while valueEnd > valueStart, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[valueEnd - 1]) { valueEnd -= 1 }
            guard members.updateValue(Array(bytes[valueStart..<valueEnd]), forKey: key) == nil else {
                throw TransparencyError("the event has \(key) twice")
            }
            skipSpace()
            guard i < bytes.count else { throw TransparencyError("the event ends early") }
            if bytes[i] == UInt8(ascii: "}") {
                i += 1
                skipSpace()
                guard i == bytes.count else { throw TransparencyError("text after the event's object") }
                return members
            }
            try expect(UInt8(ascii: ","))
        }
    }
}
