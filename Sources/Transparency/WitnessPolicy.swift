import Foundation

/// A transparency log trust policy, c2sp.org/tlog-policy: the logs a verifier accepts, the
/// witnesses it knows and the quorum of them that must have cosigned a checkpoint.
///
/// ```
/// log <vkey> [<url>]
/// witness <name> <vkey> [<url>]
/// group <name> all|any|<k> <name>...
/// quorum <name>|none
/// ```
/// Names are opaque octet strings (a Kelvin sign is not a K); a group or the quorum names only
/// what earlier lines defined; each name is a member once at most; exactly one quorum line.
public struct WitnessPolicy: Sendable {
    public struct Log: Sendable {
        public var key: NoteVerifier
        public var url: String?
    }

    public struct Witness: Sendable {
        /// The policy's name for it (its bytes, as written).
        public var name: String
        public var key: CosignatureVerifier
        /// Its tlog-witness submission prefix.
        public var url: String?
    }

    /// Who must have witnessed a checkpoint.
    public indirect enum Rule: Sendable {
        case none
        case witness(Int)
        case group(name: String, threshold: Int, members: [Rule])
    }

    public private(set) var logs: [Log] = []
    public private(set) var witnesses: [Witness] = []
    public private(set) var quorum: Rule = .none
    /// The quorum's name as written (`none`, a witness's or a group's).
    public private(set) var quorumName = "none"

    /// The policy a file holds; throws naming the line that breaks the format.
    public init(_ data: [UInt8]) throws {
        guard data.count <= 1 << 20 else { throw TransparencyError("a policy file is at most 1 MiB") }
        enum Defined {
            case witness(Int)
            case group(Rule)
        }
        var names: [[UInt8]: Defined] = [:]
        var members: Set<[UInt8]> = []
        var sawQuorum = false
        for (offset, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            func fail(_ message: String) -> TransparencyError { TransparencyError("policy line \(number): \(message)") }
            guard raw.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
                throw fail("only tab and newline may be control characters")
            }
            let fields = raw.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map(Array.init)
            guard let keyword = fields.first, keyword.first != UInt8(ascii: "#") else { continue }
            func text(_ bytes: [UInt8]) throws -> String {
                guard let value = String(validating: bytes, as: UTF8.self) else { throw fail("a key is not UTF-8") }
                return value
            }
            func url(_ index: Int) throws -> String? {
                guard fields.count > index else { return nil }
                guard fields.count == index + 1 else { throw fail("too many fields") }
                return try text(fields[index])
            }
            switch String(decoding: keyword, as: UTF8.self) {
            case "log":
                guard fields.count >= 2 else { throw fail("log <vkey> [<url>]") }
                let key: NoteVerifier
                do { key = try NoteVerifier(try text(fields[1])) } catch { throw fail("the log's key: \(error)") }
                guard !logs.contains(where: { $0.key.publicKey == key.publicKey }) else {
                    throw fail("a log listed twice")
                }
                logs.append(Log(key: key, url: try url(2)))
            case "witness":
                guard fields.count >= 3 else { throw fail("witness <name> <vkey> [<url>]") }
                let name = fields[1]
                guard names[name] == nil, name != Array("none".utf8) else { throw fail("a name defined twice") }
                let key: CosignatureVerifier
                do { key = try CosignatureVerifier(try text(fields[2])) } catch {
                    throw fail("the witness's key: \(error)")
                }
                guard !witnesses.contains(where: { $0.key.publicKey == key.publicKey }) else {
                    throw fail("a witness listed twice")
                }
                names[name] = .witness(witnesses.count)
                witnesses.append(
                    Witness(name: String(decoding: name, as: UTF8.self), key: key, url: try url(3)))
            case "group":
                guard fields.count >= 4 else { throw fail("group <name> all|any|<k> <name>...") }
                let name = fields[1]
                guard names[name] == nil, name != Array("none".utf8) else { throw fail("a name defined twice") }
                let listed = Array(fields[3...])
                var rules: [Rule] = []
                for member in listed {
                    guard !members.contains(member) else { throw fail("a name can be a member once only") }
                    switch names[member] {
                    case .witness(let index): rules.append(.witness(index))
                    case .group(let rule): rules.append(rule)
                    case nil: throw fail("a member is not defined on an earlier line")
                    }
                    members.insert(member)
                }
                let threshold: Int
                switch String(decoding: fields[2], as: UTF8.self) {
                case "all": threshold = rules.count
                case "any": threshold = 1
                case let k:
                    guard let value = Int(k), String(value) == k, (1...rules.count).contains(value) else {
                        throw fail("the threshold must be all, any, or a decimal k with 1 <= k <= members")
                    }
                    threshold = value
                }
                names[name] = .group(
                    .group(name: String(decoding: name, as: UTF8.self), threshold: threshold, members: rules))
            case "quorum":
                guard fields.count == 2 else { throw fail("quorum <name>") }
                guard !sawQuorum else { throw fail("a second quorum line") }
                sawQuorum = true
                quorumName = String(decoding: fields[1], as: UTF8.self)
                if fields[1] == Array("none".utf8) {
                    quorum = .none
                } else {
                    switch names[fields[1]] {
                    case .witness(let index): quorum = .witness(index)
                    case .group(let rule): quorum = rule
                    case nil: throw fail("the quorum names nothing defined on an earlier line")
                    }
                }
            default:
                throw fail("unknown keyword (expected log, witness, group or quorum)")
            }
        }
        guard sawQuorum else { throw TransparencyError("the policy has no quorum line") }
    }

    /// Whether the witnesses at `cosigned` (indexes into ``witnesses``) satisfy `rule`.
    public func isSatisfied(_ rule: Rule? = nil, by cosigned: Set<Int>) -> Bool {
        switch rule ?? quorum {
        case .none: true
        case .witness(let index): cosigned.contains(index)
        case .group(_, let threshold, let members):
            members.filter { isSatisfied($0, by: cosigned) }.count >= threshold
        }
    }

    /// A checkpoint that passed the policy.
    public struct Verified: Sendable {
        public var checkpoint: Checkpoint
        public var log: NoteVerifier
        /// The witnesses whose cosignatures verified, by name, with their times.
        public var cosigners: [(name: String, time: UInt64)]
    }

    /// Checks a signed checkpoint: signed by one of the policy's logs (or by `log`, if
    /// given), cosigned by a quorum of its witnesses. Throws naming what is missing.
    public func verify(_ note: String, log given: NoteVerifier? = nil) throws -> Verified {
        let candidates = given.map { [$0] } ?? logs.map(\.key)
        guard !candidates.isEmpty else { throw TransparencyError("the policy names no log and no log key was given") }
        var opened: (Checkpoint, NoteVerifier)?
        var reasons: [String] = []
        for key in candidates {
            do {
                opened = (try Checkpoint.open(note, verifier: key), key)
                break
            } catch { reasons.append("\(error)") }
        }
        guard let (checkpoint, log) = opened else {
            throw TransparencyError("no log of the policy signed the checkpoint: " + reasons.joined(separator: "; "))
        }
        var cosigned: Set<Int> = []
        var cosigners: [(name: String, time: UInt64)] = []
        var bad: [String] = []
        for (index, witness) in witnesses.enumerated() {
            do {
                if let time = try witness.key.cosignature(on: note) {
                    cosigned.insert(index)
                    cosigners.append((witness.name, time))
                }
            } catch { bad.append("\(error)") }
        }
        guard isSatisfied(by: cosigned) else {
            let missing = witnesses.indices.filter { !cosigned.contains($0) }.map { witnesses[$0].name }
            throw TransparencyError(
                "the quorum \(quorumName) is not met: cosigned by "
                    + (cosigners.isEmpty ? "no witness" : cosigners.map(\.name).joined(separator: ", "))
                    + "; no valid cosignature from " + missing.joined(separator: ", ")
                    + (bad.isEmpty ? "" : " (" + bad.joined(separator: "; ") + ")"))
        }
        return Verified(checkpoint: checkpoint, log: log, cosigners: cosigners)
    }
}
