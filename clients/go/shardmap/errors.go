package shardmap

import "fmt"

// The error codes of keyway (docs/errors.md, src/core/errors.ts ERROR_CODES), as the TypeScript
// and Python clients use them. A REST error body whose code is not one of these is reported as
// CodeKeywayUnavailable.
const (
	CodeConfigParse          = "CONFIG_PARSE"
	CodeConfigInvalid        = "CONFIG_INVALID"
	CodeConfigRead           = "CONFIG_READ"
	CodeDuplicateEndpoint    = "DUPLICATE_ENDPOINT"
	CodeBadArgument          = "BAD_ARGUMENT"
	CodeNotFound             = "NOT_FOUND"
	CodeSourceUnavailable    = "SOURCE_UNAVAILABLE"
	CodeSnapshotInconsistent = "SNAPSHOT_INCONSISTENT"
	CodeKeywayUnavailable    = "KEYWAY_UNAVAILABLE"
	CodeBudgetExceeded       = "BUDGET_EXCEEDED"
	CodeLimitExceeded        = "LIMIT_EXCEEDED"
	CodeUnauthenticated      = "UNAUTHENTICATED"
	CodeInternal             = "INTERNAL"
)

// ErrorCodes is keyway's list of error codes in its order (src/core/errors.ts); a test checks it
// against that file, so a code added there and not here fails the build's tests rather than being
// reported as KEYWAY_UNAVAILABLE.
var ErrorCodes = []string{
	CodeConfigParse, CodeConfigInvalid, CodeConfigRead, CodeDuplicateEndpoint, CodeBadArgument,
	CodeNotFound, CodeSourceUnavailable, CodeSnapshotInconsistent, CodeKeywayUnavailable,
	CodeBudgetExceeded, CodeLimitExceeded, CodeUnauthenticated, CodeInternal,
}

// KeywayError is the error this package returns (docs/errors.md): callers go by Code, which is
// stable; Message is for people. Field names the option or argument a BAD_ARGUMENT is about. Err,
// when set, is the underlying cause (errors.Is(err, context.Canceled) holds for a Refresh ended by
// its context).
type KeywayError struct {
	Code    string
	Message string
	Field   string
	Err     error
}

func (e *KeywayError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *KeywayError) Unwrap() error { return e.Err }

func newError(code, format string, args ...any) *KeywayError {
	return &KeywayError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func badArgument(field, format string, args ...any) *KeywayError {
	return &KeywayError{Code: CodeBadArgument, Field: field, Message: fmt.Sprintf(format, args...)}
}

func knownCode(code string) bool {
	for _, c := range ErrorCodes {
		if c == code {
			return true
		}
	}
	return false
}
