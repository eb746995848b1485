import Foundation
import PackagePlugin

/// Turns each data table `Tables/<Name>.tsv` of a target into `enum <Name> { static let table }`
/// at build time, so the tables the generators in scripts/ write from the FHIR standard are
/// committed as data (reviewable, diffable, not code) and still compiled into the binary: the
/// node reads no file at run time. (SwiftPM's `embedInCode` would do the same as a byte array,
/// which takes minutes to compile at these sizes; a string literal takes a second.)
@main
struct EmbedTables: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let folder = target.directoryURL.appending(path: "Tables")
        let tables = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "tsv" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let tool = try context.tool(named: "embed-table")
        return tables.map { table in
            let name = table.deletingPathExtension().lastPathComponent
            let output = context.pluginWorkDirectoryURL.appending(path: name + ".swift")
            return .buildCommand(
                displayName: "Embedding \(table.lastPathComponent)",
                executable: tool.url,
                arguments: [table.path, output.path, name],
                inputFiles: [table],
                outputFiles: [output]
            )
        }
    }
}
