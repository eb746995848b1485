import ArgumentParser
import Console
import Services

/// `careledger fhir`: FHIR tools that need no node.
struct FHIRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fhir", abstract: "FHIR R4 tools that work offline.", subcommands: [FHIRValidateCommand.self])
}

/// `careledger fhir validate FILE…`.
struct FHIRValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check FHIR R4 JSON files (a resource or a Bundle each) against the R4 definitions, as every FHIR write does.",
        discussion: "Prints PATH: valid, or each issue (severity, code, expression, message). Exits 1 when any file is invalid.")

    @Argument(help: "JSON files (at least one); - reads standard input.") var files: [String]
    @Flag(help: "Print each file's OperationOutcome as JSON.") var json = false

    func run() throws {
        let reports = files.map(FHIRFileValidation.validate(path:))
        for report in reports {
            if json { Terminal.json(report.outcome) } else { report.lines.forEach { Terminal.line($0) } }
        }
        if reports.contains(where: { !$0.isValid }) { throw ExitCode(1) }
    }
}
