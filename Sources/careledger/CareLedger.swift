import Console
import ArgumentParser
import Bench
import Demo
import LedgerCore
import Services
#if canImport(Glibc)
import Glibc
#endif

/// The `careledger` command.
@main
struct CareLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "careledger",
        abstract: "A permissioned, Merkle-proven ledger for healthcare consortia.",
        discussion: """
            Every command takes --data DIR (default: $CARELEDGER_DATA, else ./careledger-data).
            Exit codes: 0 success; 1 error (bad input, missing data, I/O); 64 usage error;
            3 a transaction was rejected or the chain failed verification.
            """,
        subcommands: [
            DemoCommand.self, InitCommand.self, KeysCommand.self, NodeCommand.self, SubmitCommand.self,
            RecordCommand.self, ConsentCommand.self, AccessLogCommand.self, BreakGlassCommand.self, AuditCommand.self,
            ClaimsCommand.self, SupplyCommand.self, RxCommand.self, TrialsCommand.self, TelehealthCommand.self, VerifyCommand.self, ProofCommand.self,
            TokenCommand.self, ImportCommand.self, BenchCommand.self, LoadCommand.self, NetworkCommand.self, FHIRCommand.self,
        ]
    )
}

/// The shared `--data` option, and where the key files' passphrase comes from.
struct DataOption: ParsableArguments {
    @Option(name: .long, help: "Data directory (default: $CARELEDGER_DATA, else ./careledger-data).")
    var data: String?
    @Option(name: .long, help: "Read the key files' passphrase from the first line of this file (default: $CARELEDGER_PASSPHRASE, else a prompt on a terminal).")
    var passphraseFile: String?

    func validate() throws {
        if let passphraseFile { var probe = DataDirectory.resolve(data); try probe.readPassphrase(from: passphraseFile) }
    }

    var directory: DataDirectory {
        var directory = DataDirectory.resolve(data)
        if let passphraseFile { try? directory.readPassphrase(from: passphraseFile) }
        if directory.passphrase == nil, isatty(STDIN_FILENO) == 1 { directory.prompt = Terminal.askPassphrase }
        return directory
    }

    /// The data directory and the key named `signer` in it.
    func directoryAndKey(_ signer: String) throws -> (DataDirectory, IdentityKeys) {
        let directory = self.directory
        return (directory, try directory.loadKey(signer))
    }
}

/// `--data`, `--as` and `--patient`: a patient, or a delegate for them, signing.
struct PatientSignerOptions: ParsableArguments {
    @OptionGroup var options: DataOption
    @Option(name: .customLong("as"), help: "The patient's key, or a delegate's.") var signer: String
    @Option(help: "The patient (key name or id) when a delegate signs; default: the signer.") var patient: String?

    /// The data directory, the signer's key and the patient they sign for.
    func resolve() throws -> (directory: DataDirectory, keys: IdentityKeys, patient: IdentityID) {
        let (directory, keys) = try options.directoryAndKey(signer)
        return (directory, keys, try patient.map { try directory.identityID($0) } ?? keys.derivedID)
    }
}

/// Exit code for "rejected" and "verification failed".
let exitRejected = ExitCode(3)
