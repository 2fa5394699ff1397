#!/bin/bash
# {{title}}
# Written by fleetclip from templates/sbatch-array.sh and the Slurm profile "{{profile}}"; fleetclip writes a new one
# for every submission, so change the profile or the flags rather than this file.
{{directives}}

set -e
{{setup}}
{{environment}}
{{exec_comment}}
exec {{command}}
