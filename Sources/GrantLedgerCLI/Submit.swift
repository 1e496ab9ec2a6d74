import ArgumentParser
import Foundation
import GrantDomain

/// `grantledger submit [FILE|-]`: one command in docs/domain.md JSON form.
struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Apply one command given as docs/domain.md JSON (a file, or - for standard input).",
        discussion: """
            Example: echo '{"command":"closeCall","callId":"C1","closedOn":"2025-06-30"}' | grantledger submit -
            On success prints the recorded events; on rejection the §5 error, and exits with \
            the code of its class (see grantledger --help).
            """)

    @Argument(help: "A file holding one JSON command, or - for standard input.")
    var file: String = "-"

    @OptionGroup var options: WriteOptions

    func run() async throws {
        let data = try readInput(file)
        var request: CommandRequest
        do throws(DomainError) {
            guard let text = String(validating: data, as: UTF8.self) else {
                throw DomainError(.invalid, "the command is not valid UTF-8")
            }
            request = try CommandRequest.parse(text)
        } catch {
            throw reportRejection(error, format: options.format)
        }
        if let commandId = options.commandId { request.commandId = commandId }
        try await apply(request, options: options)
    }
}
