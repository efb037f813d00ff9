package engines

import "os/exec"

var lookPath = exec.LookPath
