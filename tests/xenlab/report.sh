#!/bin/bash
find "$1" -type f | head -50
