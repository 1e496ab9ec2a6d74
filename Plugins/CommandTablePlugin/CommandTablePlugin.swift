import Foundation
import PackagePlugin

/// Generates the command types of a target from its `Commands.table` at build time.
@main
struct CommandTablePlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? any SourceModuleTarget else { return [] }
        let tables = target.sourceFiles.filter { $0.url.lastPathComponent == "Commands.table" }.map(\.url)
        guard let table = tables.first else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "Commands.generated.swift")
        return [
            .buildCommand(
                displayName: "Generating the command types from \(table.lastPathComponent)",
                executable: try context.tool(named: "CommandTableGenerator").url,
                arguments: [table.path, output.path],
                inputFiles: [table],
                outputFiles: [output])
        ]
    }
}
