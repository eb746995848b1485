/// An error of a command-line tool's own (a bad option, a file it cannot read), with the message a user sees.
public struct CLIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
