import Crypto
import Foundation
import LedgerCore
import Services
import Testing

/// Security review finding 9: `init` and `keys new` wrote node and organization keys as plain
/// base64 — and those keys unlock the vault, the blind index and token signing, so a copy of the
/// data directory was a copy of all plaintext. Every key file is now sealed (scrypt + AES-256-GCM)
/// with a passphrase from CARELEDGER_PASSPHRASE, a file or a prompt; plain keys take an explicit
/// `--insecure-plain-keys`, and `keys seal` converts a directory.
@Suite("Security finding 9: key files are sealed by default", .serialized)
struct SealedKeyFindingTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("careledger-sealed-\(UUID().uuidString)").path
    }

    /// The environment without a passphrase (and with the cheap test cost).
    static var noPassphrase: [String: String] {
        var environment = CareledgerBinary.environment
        environment["CARELEDGER_PASSPHRASE"] = nil
        return environment
    }

    /// Every file under `root`, as bytes.
    static func files(under root: String) -> [(String, Data)] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var out: [(String, Data)] = []
        while let relative = enumerator?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: root + "/" + relative) { out.append((relative, data)) }
        }
        return out
    }

    @Test(.timeLimit(.minutes(3)))
    func keysAreSealedUnlessExplicitlyPlain() async throws {
        let data = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        // No passphrase, no terminal: refused, and nothing is created.
        let refused = try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital"], environment: Self.noPassphrase)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("CARELEDGER_PASSPHRASE") && refused.stderr.contains("--insecure-plain-keys"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data + "/node.json"))

        // With a passphrase: every key file is sealed, and no file holds a private key in the clear.
        #expect(try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital"]).status == 0)
        #expect(try await CareledgerBinary.run(["keys", "new", "--data", data, "clerk"]).status == 0)
        let directory = DataDirectory(url: URL(fileURLWithPath: data), passphrase: CareledgerBinary.passphrase)
        let names = try directory.keyNames()
        #expect(Set(names) == ["hospital", "node", "clerk"])
        for name in names {
            let text = String(decoding: try #require(FileManager.default.contents(atPath: directory.keyURL(name).path)), as: UTF8.self)
            #expect(text.contains("\"sealed\"") && !text.contains("PrivateKey"), "\(name): \(text)")
            let keys = try directory.loadKey(name)
            let secrets = [Data(keys.signing.rawRepresentation), Data(keys.agreement.rawRepresentation)]
            for (file, bytes) in Self.files(under: data) {
                for secret in secrets {
                    #expect(bytes.range(of: secret) == nil && bytes.range(of: Data(secret.base64EncodedString().utf8)) == nil,
                            "\(file) holds \(name)'s private key")
                }
            }
        }
        // Without the passphrase, or with a wrong one, nothing opens; a passphrase file works.
        let locked = try await CareledgerBinary.run(["keys", "list", "--data", data], environment: Self.noPassphrase)
        #expect(locked.status != 0 && locked.stderr.contains("sealed with a passphrase"), "\(locked.stderr)")
        var wrong = CareledgerBinary.environment
        wrong["CARELEDGER_PASSPHRASE"] = "not it"
        let mistaken = try await CareledgerBinary.run(["keys", "list", "--data", data], environment: wrong)
        #expect(mistaken.status != 0 && mistaken.stderr.contains("does not open"), "\(mistaken.stderr)")
        let passphraseFile = data + "-passphrase"
        defer { try? FileManager.default.removeItem(atPath: passphraseFile) }
        try Data((CareledgerBinary.passphrase + "\n").utf8).write(to: URL(fileURLWithPath: passphraseFile))
        let fromFile = try await CareledgerBinary.run(["keys", "list", "--data", data, "--passphrase-file", passphraseFile],
                                                      environment: Self.noPassphrase)
        #expect(fromFile.status == 0 && fromFile.stdout.contains("clerk"), "\(fromFile.stderr)")
    }

    @Test(.timeLimit(.minutes(3)))
    func plainKeysAreAnExplicitChoiceAndSealConvertsThem() async throws {
        let data = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let made = try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital", "--insecure-plain-keys"],
                                                  environment: Self.noPassphrase)
        #expect(made.status == 0 && made.stdout.contains("IN THE CLEAR"), "\(made.stderr)")
        let directory = DataDirectory(url: URL(fileURLWithPath: data), passphrase: CareledgerBinary.passphrase)
        #expect(try directory.settings().plainKeys == true)
        #expect(String(decoding: FileManager.default.contents(atPath: directory.keyURL("node").path) ?? Data(), as: UTF8.self)
            .contains("signingPrivateKey"))
        let before = try directory.loadKey("hospital").derivedID

        let sealed = try await CareledgerBinary.run(["keys", "seal", "--data", data, "--json"])
        #expect(sealed.status == 0, "\(sealed.stderr)")
        #expect(sealed.stdout.contains("hospital") && sealed.stdout.contains("node"))
        #expect(try directory.settings().plainKeys == nil, "the directory now keeps sealed keys only")
        for name in try directory.keyNames() {
            #expect(!String(decoding: FileManager.default.contents(atPath: directory.keyURL(name).path) ?? Data(), as: UTF8.self)
                .contains("PrivateKey"), "\(name)")
        }
        let reopened = DataDirectory(url: URL(fileURLWithPath: data), passphrase: CareledgerBinary.passphrase)
        #expect(try reopened.loadKey("hospital").derivedID == before, "the same keys, sealed")
        // New keys in a sealed directory need the passphrase.
        let unsealedNew = try await CareledgerBinary.run(["keys", "new", "--data", data, "clerk"], environment: Self.noPassphrase)
        #expect(unsealedNew.status != 0 && unsealedNew.stderr.contains("CARELEDGER_PASSPHRASE"), "\(unsealedNew.stderr)")
        #expect(try await CareledgerBinary.run(["verify", "--data", data]).status == 0)
    }
}
