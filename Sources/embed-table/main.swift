// embed-table TABLE OUTPUT NAME: writes `enum NAME { static let table = "<the file's text>" }` to
// OUTPUT, the table as a raw string literal. Run by the EmbedTables build plugin.
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: embed-table TABLE OUTPUT NAME\n".utf8))
    exit(64)
}
let (input, output, name) = (arguments[1], arguments[2], arguments[3])
guard let data = FileManager.default.contents(atPath: input), var text = String(data: data, encoding: .utf8) else {
    FileHandle.standardError.write(Data("embed-table: cannot read \(input) as UTF-8\n".utf8))
    exit(66)
}
if !text.hasSuffix("\n") { text += "\n" }
// Enough #s that nothing in the text ends the literal or starts an escape.
var hashes = "#"
while text.contains("\"\"\"" + hashes) || text.contains("\\" + hashes) { hashes += "#" }
let swift = """
    // Generated at build time by the EmbedTables plugin from \((input as NSString).lastPathComponent); do not edit.

    enum \(name) {
        static let table = \(hashes)\"\"\"
    \(text)\"\"\"\(hashes)
    }

    """
do {
    try Data(swift.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
} catch {
    FileHandle.standardError.write(Data("embed-table: cannot write \(output): \(error)\n".utf8))
    exit(73)
}
