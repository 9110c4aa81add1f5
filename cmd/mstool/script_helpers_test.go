package main

import "fmt"

func fmtSscanOctal(s string, v *uint32) (int, error) { return fmt.Sscanf(s, "%o", v) }
