import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Server
import Services

/// `careledger token`: mint an access token locally for scripts (whoever holds the node key can).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint a bearer token for the HTTP API, as an identity whose key is in the data directory.",
        discussion: """
            Signs an access token with the node's key, for the node serving this data directory; it is valid \
            for 15 minutes and only while the identity stays active on-chain. Works while the node runs. \
            The token is the last line printed. Remote clients use POST /auth/token with a client assertion instead.
            """)

    @OptionGroup var options: DataOption
    @Option(help: "Name of the identity's key in the data directory (default: the administrator organization).") var identity: String?
    @Flag(help: "Print JSON (access_token, identity, expires_in).") var json = false

    func run() async throws {
        let directory = options.directory
        let settings = try directory.settings()
        let name = identity ?? settings.administrator
        let keys = try directory.loadKey(name)
        let store = try directory.openStore()
        guard let registered = Directory.identity(keys.derivedID, in: StoreStateReader(store: store)) else {
            throw CLIError("“\(name)” (\(keys.derivedID.hex)) is not registered on this ledger")
        }
        guard !registered.revoked else { throw CLIError("“\(name)” has been revoked") }
        let authority = await TokenAuthority(mintingFor: try directory.loadKey(settings.nodeKey), chainId: settings.chainId)
        let token = try await authority.mint(for: registered.id)
        if json {
            Terminal.json(["access_token": token.token, "identity": registered.id.hex, "expires_in": token.expiresIn, "token_type": "bearer"])
        } else {
            Terminal.line("identity  \(name) (\(registered.kind.rawValue) \(registered.id.hex)), valid \(token.expiresIn / 60) minutes")
            Terminal.line(token.token)
        }
    }
}
