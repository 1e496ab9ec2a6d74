import ArgumentParser
import Foundation
import Projections

/// `grantledger keygen ...`: keys a deployment makes once.
struct Keygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a deployment key (the log's signing key is made by `audit keygen`).",
        subcommands: [KeygenPseudonym.self])
}

/// `grantledger keygen pseudonym --out FILE`: the key behind confidential organisations'
/// pseudonyms (docs/domain.md §15).
struct KeygenPseudonym: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pseudonym",
        abstract: "Make the deployment's pseudonym key (32 random bytes, mode 600).",
        discussion: """
            Outside managers and auditors, a confidential organisation appears as anon- plus the \
            first 16 hex digits of HMAC-SHA256(this key, organisationId). Keep the key secret \
            (whoever holds it can test a guessed identifier against a pseudonym) and keep it \
            (a new key gives every organisation a new pseudonym). Give it to serve and export \
            with --pseudonym-key or GRANTLEDGER_PSEUDONYM_KEY. An existing file is never \
            overwritten.
            """)

    @Option(help: "The key file to create.") var out: String

    func run() async throws {
        try createSecretFile(out, Pseudonyms.generateKeyText())
        print("wrote the pseudonym key to \(out) (mode 600)")
    }
}

/// `--pseudonym-key FILE` (or GRANTLEDGER_PSEUDONYM_KEY): the key of confidential
/// organisations' pseudonyms, for what viewers and published files show.
struct PseudonymKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("pseudonym-key"),
        help: ArgumentHelp(
            "The deployment's pseudonym key file (grantledger keygen pseudonym).",
            discussion:
                "Default: the file named by GRANTLEDGER_PSEUDONYM_KEY. Without either, confidential organisations are withheld from viewers and published files as 'anon-' pseudonyms of a key made for this process only, which change between runs."
        ))
    var pseudonymKey: String?

    /// The file to read: `--pseudonym-key`, else `GRANTLEDGER_PSEUDONYM_KEY`.
    var path: String? {
        if let pseudonymKey, !pseudonymKey.isEmpty { return pseudonymKey }
        let value = ProcessInfo.processInfo.environment["GRANTLEDGER_PSEUDONYM_KEY"]
        return value?.isEmpty == false ? value : nil
    }

    /// The pseudonyms of the configured key; without one, of a key made for this process
    /// (names are never shown for want of a key).
    /// - Throws: `ValidationError` for a file others may read or write, or not a key.
    func pseudonyms() throws -> Pseudonyms {
        guard let path else {
            return Pseudonyms.ephemeral()
        }
        let text = try readSecretFile(path, "the pseudonym key")
        guard let pseudonyms = Pseudonyms(keyText: text) else {
            throw ValidationError("the pseudonym key \(path) is not a grantledger pseudonym key (64 hex digits)")
        }
        return pseudonyms
    }
}
